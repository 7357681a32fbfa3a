"""python -m tthc.alerts <command>: try the channels and run the checks by hand (docs/alerts.md).

    send-test [--source NAME] [--kind KIND]   send a test alert through the configured routes
    routes [--source NAME] [--dag-id ID] [--kind KIND] [--unit CODE]   show who would receive it
    stale                                     run the stale-source check now (sends alerts)
    digests                                   send the digests of ended grouping windows
    receivers                                 local SMTP + HTTP receivers that print what arrives
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tthc.alerts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("send-test", "routes"):
        p = sub.add_parser(name)
        p.add_argument("--source")
        p.add_argument("--dag-id")
        p.add_argument("--kind", default="task_failure")
        p.add_argument("--unit")
    sub.add_parser("stale")
    sub.add_parser("digests")
    sub.add_parser("receivers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.command == "receivers":
        from tthc.alerts.receivers import main as run

        run()
        return 0
    from tthc.alerts.config import _mask, load_config

    config = load_config()
    if args.command == "routes":
        facts = {"source": args.source, "dag_id": args.dag_id, "kind": [args.kind], "unit": args.unit, "tag": []}
        r = (config.unit_recipients(args.unit, facts) if args.kind == "unit_behind" else config.recipients(facts))
        print(f"config:   {config.path}\nroutes:   {', '.join(r.routes) or '-'}\nemails:   {', '.join(r.emails) or '-'}")
        print("webhooks: " + (", ".join(_mask(h.url) for h in r.webhooks) or "-"))
        return 0 if r else 1
    from tthc.orchestration import warehouse_url

    if args.command == "stale":
        from tthc.alerts.monitoring import alert_stale_sources

        print(alert_stale_sources(warehouse_url(), config))
        return 0
    if args.command == "digests":
        from tthc.alerts.dispatch import flush_digests

        print(f"{flush_digests(warehouse_url(), config)} digest(s) sent")
        return 0
    import datetime as dt

    from tthc.alerts.dispatch import dispatch
    from tthc.alerts.message import Alert

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    alert = Alert(kind=args.kind, severity="info", title=f"Thử kênh cảnh báo / test alert ({now})",
                  summary="A test alert sent with `python -m tthc.alerts send-test`. Nothing is wrong.",
                  source=args.source, dag_id=args.dag_id, unit_code=args.unit, group_window_minutes=0,
                  fingerprint=f"test:{now}")
    result = dispatch(alert, config=config)
    for d in result.deliveries:
        print(f"{d.channel:8} {d.target:50} {'ok' if d.ok else 'FAILED: ' + str(d.error)}")
    print(f"status: {result.status}")
    return 0 if result.status == "sent" else 1


if __name__ == "__main__":
    sys.exit(main())
