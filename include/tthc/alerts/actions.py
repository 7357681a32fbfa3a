"""What the `tthc alerts …` commands do (the commands are in tthc.commands; docs/alerts.md):

    send-test [--source NAME] [--kind KIND]   send a test alert through the configured routes
    routes [--source NAME] [--dag-id ID] [--kind KIND] [--unit CODE]   show who would receive it
    stale                                     run the stale-source check now (sends alerts)
    digests                                   send the digests of ended grouping windows
    receivers                                 local SMTP + HTTP receivers that print what arrives
"""

from __future__ import annotations



def _check_source(source: str | None) -> None:
    """A source the alerts could be about: a source's name or scan.<drop zone>."""
    if source is None:
        return
    from tthc.scans.config import read_drops
    from tthc.sources.config import read_sources

    known = [c.name for c in read_sources()[0]] + [z.source for z in read_drops()[0]]
    if source not in known:
        from tthc.config.errors import suggestion

        raise LookupError(f"--source {source!r} is not a configured source{suggestion(source, known)}; "
                          f"known: {', '.join(sorted(known))}")


def _facts(source, dag_id, kind, unit) -> dict:
    return {"source": source, "dag_id": dag_id, "kind": [kind], "unit": unit, "tag": []}


def show_routes(source: str | None, dag_id: str | None, kind: str, unit: str | None) -> None:
    """Who would receive an alert with these facts; an error when nobody would."""
    from tthc.alerts.config import _mask, load_config

    _check_source(source)
    config = load_config()
    facts = _facts(source, dag_id, kind, unit)
    r = config.unit_recipients(unit, facts) if kind == "unit_behind" else config.recipients(facts)
    print(f"config:   {config.path}\nroutes:   {', '.join(r.routes) or '-'}\nemails:   {', '.join(r.emails) or '-'}")
    print("webhooks: " + (", ".join(_mask(h.url) for h in r.webhooks) or "-"))
    if not r:
        why = (f"the matching route(s) {', '.join(r.routes)} have no address (their ${{VAR}}s are empty?)"
               if r.routes else "no route matches and there is no default route")
        raise LookupError(f"nobody would receive this alert: {why} ({config.path.name})")


def send_test(source: str | None, dag_id: str | None, kind: str, unit: str | None) -> None:
    import datetime as dt

    from tthc.alerts.config import load_config
    from tthc.alerts.dispatch import dispatch
    from tthc.alerts.message import Alert

    _check_source(source)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    alert = Alert(kind=kind, severity="info", title=f"Thử kênh cảnh báo / test alert ({now})",
                  summary="A test alert sent with `tthc alerts send-test`. Nothing is wrong.",
                  source=source, dag_id=dag_id, unit_code=unit, group_window_minutes=0, fingerprint=f"test:{now}")
    result = dispatch(alert, config=load_config())
    for d in result.deliveries:
        print(f"{d.channel:8} {d.target:50} {'ok' if d.ok else 'FAILED: ' + str(d.error)}")
    print(f"status: {result.status}")
    if result.status != "sent":
        raise RuntimeError(f"the test alert was not sent: status {result.status}")
