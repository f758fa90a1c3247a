"""kopf's credentials, taken from the configuration the operator's own client loaded.

One loader for both connections, so kopf's watches and the reconciles' requests reach the
same API server as the same user. kopf's usual login (`login_via_client`) needs the
`kubernetes` package, which the image no longer ships; its fallbacks parse the kubeconfig a
second time, and the in-cluster one dials `kubernetes.default.svc`, which needs cluster DNS,
where lightkube uses the address the kubelet puts in KUBERNETES_SERVICE_HOST/PORT.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import kopf

if TYPE_CHECKING:
    from lightkube import SingleConfig


def connection_info(config: SingleConfig, trust_env: bool = False) -> kopf.ConnectionInfo:
    """The cluster, TLS material and user of `config`, as kopf wants them.

    A token file (the service account's) is read at every login: the kubelet rotates that
    token, and kopf logs in again when the API server answers 401, which picks up the new one.
    Exec plugins and auth-providers cannot be translated: kopf has no hook to run them.
    """
    cluster, user = config.cluster, config.user

    def path(name: str | None) -> str | None:
        return str(config.abs_file(name)) if name else None

    token = scheme = None
    if user is not None:
        if user.exec or user.auth_provider:
            raise kopf.LoginError(
                f"context {config.context_name!r}: exec plugins and auth-providers are not supported "
                "for kopf's connection; use a token or a client certificate"
            )
        if user.token_file:
            token = Path(str(config.abs_file(user.token_file))).read_text().strip()
        else:
            token = user.token
        scheme = "Bearer" if token else None
    return kopf.ConnectionInfo(
        server=cluster.server,
        ca_path=path(cluster.certificate_auth),
        ca_data=cluster.certificate_auth_data,
        insecure=cluster.insecure or None,
        username=user.username if user else None,
        password=user.password if user else None,
        scheme=scheme,
        token=token,
        certificate_path=path(user.client_cert) if user else None,
        certificate_data=user.client_cert_data if user else None,
        private_key_path=path(user.client_key) if user else None,
        private_key_data=user.client_key_data if user else None,
        default_namespace=config.context.namespace,
        trust_env=trust_env,
    )


def login(config: SingleConfig | None, settings: kopf.OperatorSettings, **kwargs: Any) -> Any:
    """kopf's login handler: ours when the client has a configuration, else kopf's own two."""
    if config is not None:
        return connection_info(config, trust_env=settings.networking.trust_env)
    return kopf.login_with_service_account(settings=settings, **kwargs) or kopf.login_with_kubeconfig(
        settings=settings, **kwargs
    )
