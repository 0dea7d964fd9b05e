# Slipway's upgrade-script host: runs `migrate(cr, version)` the way Odoo does,
# on ONE psycopg2 connection, driven by Slipway over stdin/stdout (JSON lines).
# Embedded in the slipway binary; started as `python3 -u -c <this source>`.
#
# Protocol: one JSON request per stdin line, one JSON reply per line on the
# ORIGINAL stdout. Scripts' own prints and logging go to stderr, which Slipway
# relays as output, so nothing a script does can corrupt the protocol.
import contextlib
import importlib.abc
import importlib.util
import json
import logging
import os
import sys
import time
import traceback
import uuid

_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

logging.basicConfig(
    stream=sys.stderr,
    level=logging.INFO,
    format="%(levelname)s %(name)s: %(message)s",
)


def reply(**kw):
    _proto.write(json.dumps(kw) + "\n")
    _proto.flush()


try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
except ImportError as e:  # pragma: no cover - reported to the user
    reply(ok=False, kind="psycopg2_missing",
          error="psycopg2 is not installed for %s (%s): run `%s -m pip install psycopg2-binary`"
          % (sys.executable, e, sys.executable))
    sys.exit(3)

ORM_HINT = (
    "this script needs Odoo's ORM or Odoo's code (import of %r): it needs a real Odoo "
    "runtime, which Slipway's script host is not; run it through Odoo (odoo-bin -u) instead"
)


class OdooBlocker(importlib.abc.MetaPathFinder):
    """Makes `import odoo...` fail with a clear message instead of half-working."""

    def find_spec(self, fullname, path, target=None):
        root = fullname.split(".")[0]
        if root in ("odoo", "openerp"):
            raise ImportError(ORM_HINT % fullname, name=fullname)
        return None


sys.meta_path.insert(0, OdooBlocker())


class Cursor:
    """Odoo's `odoo.sql_db.Cursor` API over a psycopg2 cursor (psycopg2 semantics)."""

    def __init__(self, cnx, host):
        self._cnx = cnx
        self._host = host
        self._obj = cnx.cursor()
        self.dbname = cnx.get_dsn_parameters().get("dbname")
        self.sql_log_count = 0

    def execute(self, query, params=None, log_exceptions=True):
        if params and not isinstance(params, (tuple, list, dict)):
            raise ValueError("SQL query parameters should be a tuple, list or dict; got %r" % (params,))
        self.sql_log_count += 1
        return self._obj.execute(query, params)

    def executemany(self, query, params_list):
        for params in params_list:
            self.execute(query, params)

    def mogrify(self, query, params=None):
        return self._obj.mogrify(query, params)

    def fetchone(self):
        return self._obj.fetchone()

    def fetchall(self):
        return self._obj.fetchall()

    def fetchmany(self, size=None):
        return self._obj.fetchmany(size) if size is not None else self._obj.fetchmany()

    def _names(self):
        return [d[0] for d in self._obj.description]

    def dictfetchone(self):
        row = self._obj.fetchone()
        return row and dict(zip(self._names(), row))

    def dictfetchmany(self, size):
        return [dict(zip(self._names(), r)) for r in self._obj.fetchmany(size)]

    def dictfetchall(self):
        return [dict(zip(self._names(), r)) for r in self._obj.fetchall()]

    @property
    def rowcount(self):
        return self._obj.rowcount

    @property
    def description(self):
        return self._obj.description

    @property
    def query(self):
        return self._obj.query

    @property
    def closed(self):
        return self._obj.closed

    @property
    def connection(self):
        return self._cnx

    def split_for_in_conditions(self, ids, size=None):
        ids = list(ids)
        size = size or 32766
        for i in range(0, len(ids), size):
            yield tuple(ids[i:i + size])

    @contextlib.contextmanager
    def savepoint(self, flush=True):
        name = "sp_%s" % uuid.uuid1().hex
        self._obj.execute('SAVEPOINT "%s"' % name)
        try:
            yield
        except BaseException:
            self._obj.execute('ROLLBACK TO SAVEPOINT "%s"' % name)
            raise
        else:
            self._obj.execute('RELEASE SAVEPOINT "%s"' % name)

    def commit(self):
        self._host.script_commit()

    def rollback(self):
        self._host.script_rollback()

    def flush(self):
        pass

    def close(self):
        pass

    def __iter__(self):
        return iter(self._obj)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return getattr(self._obj, name)


SCRIPT_SP = "slipway_script"


class Host:
    def __init__(self):
        self.cnx = None
        self.atomic = True
        self.log = logging.getLogger("odoo.modules.migration")

    def connect(self, dsn, atomic):
        self.cnx = psycopg2.connect(dsn)
        self.cnx.autocommit = False
        self.atomic = atomic
        cur = self.cnx.cursor()
        cur.execute("SELECT current_database(), version()")
        db, version = cur.fetchone()
        cur.close()
        return {"dbname": db, "server": version}

    def _raw(self, sql, params=None):
        cur = self.cnx.cursor()
        cur.execute(sql, params)
        cur.close()

    # cr.commit()/cr.rollback() from inside a script
    def script_commit(self):
        if self.atomic:
            self.log.warning("cr.commit() ignored: this run is one transaction "
                             "(use --commit-per-module for Odoo's behaviour)")
            return
        self.cnx.commit()

    def script_rollback(self):
        if self.atomic:
            # Only this script's work: earlier scripts stay part of the run.
            self._raw('ROLLBACK TO SAVEPOINT "%s"' % SCRIPT_SP)
            return
        self.cnx.rollback()

    def run(self, req):
        path, name = req["script"], os.path.splitext(os.path.basename(req["script"]))[0]
        addon, stage = req["module"], req["stage"]
        if self.atomic:
            self._raw('SAVEPOINT "%s"' % SCRIPT_SP)
        t0 = time.monotonic()
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        except SyntaxError:
            return self._fail("syntax", "Python syntax error in %s" % path)
        except ImportError as e:
            kind = "orm" if (e.name or "").split(".")[0] in ("odoo", "openerp") else "import"
            msg = str(e) if kind == "orm" else "module %s: Unable to load %s-migration file %s" % (addon, stage, path)
            return self._fail(kind, msg)
        except BaseException as e:
            return self._fail("exception", "%s while loading %s" % (type(e).__name__, path))
        migrate = getattr(mod, "migrate", None)
        if migrate is None:
            msg = ('module %s: Each %s-migration file must have a "migrate(cr, installed_version)" function'
                   % (addon, stage))
            self.log.error(msg)
            return {"ok": True, "skipped": msg, "name": name, "elapsed": time.monotonic() - t0}
        reply(event="start", name=name)
        cr = Cursor(self.cnx, self)
        try:
            migrate(cr, req["version"])
        except ImportError as e:
            if (e.name or "").split(".")[0] in ("odoo", "openerp"):
                return self._fail("orm", str(e))
            return self._fail("exception", "%s: %s" % (type(e).__name__, e))
        except BaseException as e:
            return self._fail("exception", "%s: %s" % (type(e).__name__, e))
        finally:
            del mod
        if self.atomic:
            self._raw('RELEASE SAVEPOINT "%s"' % SCRIPT_SP)
        return {"ok": True, "name": name, "elapsed": time.monotonic() - t0}

    def _fail(self, kind, message):
        return {"ok": False, "kind": kind, "error": message, "traceback": traceback.format_exc()}

    def module_done(self, req):
        # What Odoo writes once a module is loaded and its post scripts ran.
        self._raw("UPDATE ir_module_module SET state = 'installed', latest_version = %s WHERE name = %s",
                  (req["version"], req["module"]))
        if not self.atomic:
            self.cnx.commit()
        return {"ok": True}

    def finish(self, req):
        if req.get("commit"):
            self.cnx.commit()
        else:
            self.cnx.rollback()
        return {"ok": True}


def main():
    host = Host()
    reply(ok=True, kind="ready", python=sys.version.split()[0], psycopg2=psycopg2.__version__)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "connect":
                res = dict(ok=True, **host.connect(req["dsn"], req.get("atomic", True)))
            elif op == "run":
                res = host.run(req)
            elif op == "module_done":
                res = host.module_done(req)
            elif op == "finish":
                res = host.finish(req)
            elif op == "quit":
                reply(ok=True)
                return
            else:
                res = {"ok": False, "kind": "protocol", "error": "unknown op %r" % op}
        except psycopg2.Error as e:
            res = host._fail("database", "%s: %s" % (type(e).__name__, str(e).strip()))
        reply(**res)


main()
