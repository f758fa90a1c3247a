# Sourced by the image scripts (build-image.sh, image-smoke.sh, image-smoke-arm64.sh): one way
# to call Debian's buildah, so they all read and write the same containers storage.
# STORAGE_DRIVER: vfs by default (works anywhere, copies whole layers); another driver keeps
# its storage apart under /var/lib/containers/storage-<driver>, so the two never mix.
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

bh() {
  if [[ $STORAGE_DRIVER == vfs ]]; then
    buildah --storage-driver vfs "$@"
  else
    buildah --storage-driver "$STORAGE_DRIVER" --root "/var/lib/containers/storage-$STORAGE_DRIVER" \
      --runroot "/run/containers/storage-$STORAGE_DRIVER" "$@"
  fi
}
