"""`pingan token`: the bearer tokens of the HTTP API and dashboard; and `pingan api`."""

from __future__ import annotations

import getpass
import json
import sys
import time

import psycopg

from .config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("token", help="create, list and revoke the API's bearer tokens",
                       description="Tokens for the HTTP API and the dashboard. Each has a role — command (the duty "
                                   "officers: everything, and acts on alerts), maintenance (cameras: acts on camera "
                                   "and image alerts), auditor (reads), admin (everything) — and the districts it "
                                   "may see (none given: the whole city). The token is printed once; only a hash "
                                   "of it is kept.")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = acts.add_parser("create", help="a new token (printed once)")
    q.add_argument("--owner", required=True, help="who will use it (recorded with every write it makes)")
    q.add_argument("--role", required=True, choices=["command", "maintenance", "auditor", "admin"])
    q.add_argument("--district", action="append", default=[], metavar="ID",
                   help="a district it may see (repeat; default: the whole city)")
    q = acts.add_parser("list", help="tokens (never their secrets)")
    q.add_argument("--json", action="store_true")
    q = acts.add_parser("revoke", help="a token stops working at once")
    q.add_argument("token_id", help="its id (the part after pa_)")
    p = sub.add_parser("api", help="serve the HTTP API and dashboard alone (beside ingest workers)",
                       description="The command centre's HTTP API (/api/v1/, OpenAPI at /api/v1/openapi.json), "
                                   "/healthz, /readyz and /metrics on api.host:api.port. Needs the database and the "
                                   "Redis the ingest workers write (`pingan run` serves it too).")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")


def cmd_token(settings: Settings, args, db_url: str) -> int:
    from api import tokens

    from .services import operator_connection

    conn = operator_connection(settings.database.connect_timeout_s, db_url)
    if conn is None:
        return 2
    with conn:
        try:
            if args.action == "create":
                if args.district:
                    from alerts.actions import ActionError, Names

                    try:
                        known = Names.load(conn, time.time()).districts
                    except ActionError as e:
                        print(f"error: {e}", file=sys.stderr)
                        return 2
                    unknown = sorted(set(args.district) - known)
                    if unknown:
                        print(f"error: no district {', '.join(map(repr, unknown))} in the grid in force (its "
                              f"districts: {', '.join(sorted(known))})", file=sys.stderr)
                        return 2
                text = tokens.create(conn, args.owner, args.role, args.district, getpass.getuser())
                where = ", ".join(sorted(set(args.district))) or "the whole city"
                print(f"token for {args.owner} ({args.role}, {where}) — shown once, keep it:\n{text}")
            elif args.action == "list":
                rows = tokens.listing(conn)
                if args.json:
                    print(json.dumps(rows, default=str, indent=1))
                for r in [] if args.json else rows:
                    state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
                    print(f"{r['token_id']}  {r['owner']:<20} {r['role']:<12} "
                          f"{','.join(r['districts']) or 'city':<16} {state}")
            elif args.action == "revoke":
                if not tokens.revoke(conn, args.token_id):
                    print(f"error: no active token {args.token_id!r}", file=sys.stderr)
                    return 2
                print(f"token {args.token_id} revoked")
        except psycopg.errors.UndefinedTable:
            print("error: the database has no token table: run `pingan migrate`", file=sys.stderr)
            return 2
    return 0
