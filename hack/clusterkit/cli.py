"""The `hack/localcluster.py` command line: up, down, status, env, restart.

Apart from LocalCluster so the facade stays about the cluster's lifecycle; localcluster.py
hands its class in, so this module never imports it back.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import COMPONENTS, DEFAULT_DIR, ClusterError

Cluster = Any  # LocalCluster; typed loosely to keep the import one-way


def _env_lines(cluster: Cluster) -> list[str]:
    """Shell lines for `eval`: the admin kubeconfig and the Go-built kubectl/helm on PATH."""
    return [
        f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}",
        f'export PATH={shlex.quote(str(cluster.bin_dir))}:"$PATH"',
    ]


def _parser(doc: str) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"cluster directory (default {DEFAULT_DIR})")  # fmt: skip
    parser = argparse.ArgumentParser(prog="localcluster.py", description=doc.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start (or reuse) the control plane")
    up.add_argument("--nodes", type=int, default=2, help="number of kwok fake nodes")
    up.add_argument(
        "--no-real-node",
        dest="real_node",
        action="store_false",
        help="kwok nodes only: no kubelet, containerd or image (no root needed)",
    )
    up.add_argument("--timeout", type=float, default=60.0, help="seconds per readiness wait")
    sub.add_parser("down", parents=[common], help="stop every process of the cluster")
    sub.add_parser("status", parents=[common], help="show processes, /readyz and nodes")
    sub.add_parser("env", parents=[common], help="print export lines for KUBECONFIG and PATH")
    restart = sub.add_parser("restart", parents=[common], help="stop one component and start it again")
    restart.add_argument("component", choices=COMPONENTS)
    restart.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    return parser


def _run(cluster: Cluster, args: argparse.Namespace) -> int:
    """Carry out one parsed command; its exit code."""
    if args.command == "up":
        cluster.startup_timeout = args.timeout
        cluster.start()
        print(f'cluster up; run: eval "$(python {sys.argv[0]} env --dir {cluster.dir})"')
    elif args.command == "down":
        cluster.stop()
        left = cluster.leftovers()
        if left:
            print(f"cluster in {cluster.dir} stopped, but left: {'; '.join(left)}", file=sys.stderr)
            return 1
        print(f"cluster in {cluster.dir} stopped; nothing left behind")
    elif args.command == "restart":
        print(json.dumps(cluster.restart(args.component, kill=args.kill)))
    elif args.command == "status":
        info = cluster.status()
        print(json.dumps(info, indent=2))
        return 0 if all(info["components"].values()) and info["readyz"] == "ok" else 1
    else:
        print("\n".join(_env_lines(cluster)))
    return 0


def main(factory: Callable[..., Cluster], doc: str, argv: list[str] | None = None) -> int:
    """CLI entry; every failure becomes one `localcluster: error: ...` line and exit 1."""
    args = _parser(doc).parse_args(argv)
    cluster = factory(args.dir, nodes=getattr(args, "nodes", 2),
                           real_node=getattr(args, "real_node", False))  # fmt: skip
    try:
        return _run(cluster, args)
    except (ClusterError, OSError, subprocess.SubprocessError, urllib.error.URLError) as exc:
        print(f"localcluster: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("localcluster: interrupted", file=sys.stderr)
        return 130
