"""``slurm-usage-receiver``: run the receiver API with uvicorn (docs/RECEIVER.md).

    slurm-usage-receiver --host 127.0.0.1 --port 8080 --data-dir /srv/slurm-usage \\
        [--ssl-certfile cert.pem --ssl-keyfile key.pem] [--log-level info]
    printf %s "$KEY" | slurm-usage-receiver --hash-key     # a salted-sha256 entry for API_KEYS

Flags win over the environment / ``.env`` (API_KEYS, SLURM_USAGE_DATA_DIR, SLURM_USAGE_MAX_*).
Exit codes: 0 stopped normally, 2 usage or configuration error.
"""

import argparse
import logging
import sys

from pydantic import ValidationError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slurm-usage-receiver",
        description="Receive SLURM usage drops (POST /api/data/ingest) into DATA_DIR/landing/.",
        epilog="Keys come from API_KEYS (environment or .env). Exit codes: 0 ok, 2 usage/configuration error.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--data-dir", help="data root, a folder or s3://bucket/prefix (default: $SLURM_USAGE_DATA_DIR or ./data)"
    )
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--ssl-keyfile", help="private key for --ssl-certfile")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="default info",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="proxies trusted for X-Forwarded-For (uvicorn; default $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    parser.add_argument(
        "--hash-key",
        action="store_true",
        help="read a key on stdin, print its salted-sha256 API_KEYS entry, exit",
    )
    return parser


def hash_key_from_stdin(hash_key_entry) -> int:
    """``--hash-key``: print the API_KEYS entry of the key on stdin (the key itself never on a command line)."""
    key = sys.stdin.readline().rstrip("\r\n")
    if not key or "," in key:
        print("slurm-usage-receiver: give a non-empty key without ',' on stdin", file=sys.stderr)
        return 2
    print(hash_key_entry(key))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported here so --help and --hash-key stay fast.
    from slurm_assets.receiver import auth

    if args.hash_key:
        return hash_key_from_stdin(auth.hash_key_entry)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print(
            "slurm-usage-receiver: --ssl-certfile and --ssl-keyfile go together",
            file=sys.stderr,
        )
        return 2

    import uvicorn

    from slurm_assets.receiver import guard
    from slurm_assets.receiver.app import create_app, runtime
    from slurm_assets.settings import ReceiverSettings
    from slurm_assets.storage import fs

    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    log = logging.getLogger("slurm_assets.receiver")
    try:
        settings = ReceiverSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
        app = create_app(settings)
        rt = runtime(app)
        fs.check_root(rt.data_dir)  # an s3:// root: bucket, endpoint and keys checked before serving
    except (ValidationError, auth.KeyConfigError, fs.StorageError) as err:
        print(f"slurm-usage-receiver: configuration error: {err}", file=sys.stderr)
        return 2
    if not rt.keys:
        log.warning("API_KEYS is empty: every ingest request will get 401 until keys are configured")
    log.info(
        "receiver: data dir %s, %d API key(s), limits body=%d json=%d text=%d bytes",
        rt.data_dir,
        len(rt.keys),
        settings.max_body_bytes,
        settings.max_json_bytes,
        settings.max_text_bytes,
    )
    options = {}
    if args.forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = args.forwarded_allow_ips
    limits = guard.GuardLimits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=guard.connection_cap(settings.max_connections),
    )
    log.info(
        "receiver: at most %d connections (SLURM_USAGE_MAX_CONNECTIONS, open-file limit minus %d); "
        "headers within %g s, no body byte for %g s closes",
        limits.max_connections,
        guard.FD_RESERVE,
        limits.header_timeout_s,
        limits.body_timeout_s,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        log_level=args.log_level,
        log_config=None,  # keep the root logging set up above (audit lines included)
        access_log=False,  # the audit line (one per request) replaces the access log
        http=guard.guarded_protocol(limits),  # h11 with header/body deadlines and a connection cap
        h11_max_incomplete_event_size=16 * 1024,  # request line + headers at most 16 KiB
        timeout_keep_alive=5,
        **options,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
