"""Run one read query on an SQLite database in a process of its own; print its rows as a pickle.

Started by :mod:`aifinops.store.driver_queries` (by path, so that only the standard library is imported) to
compute part of an allocation's usage drivers on the second core while the caller reads cost records: in
one process, two threads working SQLite slow each other down about twice.

Standard input: JSON ``{"database": path, "setup": [[sql, rows], ...], "query": [sql, params]}``; each setup
statement runs once per row of its ``rows`` (temporary tables of the query). Standard output: the pickled
list of result rows. Errors go to standard error with exit status 1.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import sys


def main() -> int:
    request = json.load(sys.stdin)
    try:
        conn = sqlite3.connect(request["database"], timeout=30)
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        for sql, rows in request["setup"]:
            if rows:
                conn.executemany(sql, rows)
            else:
                conn.execute(sql)
        sql, params = request["query"]
        result = conn.execute(sql, params).fetchall()
        conn.close()
    except sqlite3.Error as exc:
        print(f"{exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
