"""Helpers shared by the OSC engine's functional tests (real mariadbd, area 201)."""

import os
import subprocess
import sys
import threading
import time

import pymysql

from trove_lite.osc import sql

USER, PASSWORD, DB = "osc", "osc-pass", "test"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def prepare(server):
    """Create the migration user and database; return TCP connection kwargs."""
    c = server.connect()
    with c.cursor() as cur:
        cur.execute("create user if not exists %s@'%%' identified by %s", (USER, PASSWORD))
        cur.execute("grant all privileges on *.* to %s@'%%'", (USER,))
        cur.execute("create database if not exists %s" % DB)
    c.close()
    return {"host": server.bind_address, "port": server.port, "user": USER,
            "password": PASSWORD, "database": DB}


def connect(kw):
    return pymysql.connect(host=kw["host"], port=kw["port"], user=kw["user"],
                           password=kw["password"], database=kw["database"], autocommit=True)


def create_table(kw, table, rows):
    c = connect(kw)
    with c.cursor() as cur:
        cur.execute("drop table if exists %s" % sql.quote(table))
        cur.execute("create table %s (id int auto_increment primary key, u int, "
                    "name varchar(64), ts timestamp(3) null, price decimal(10,2), "
                    "flags bit(5), doc json, unique key u_uidx(u)) engine=innodb"
                    % sql.quote(table))
        for start in range(0, rows, 1000):
            n = min(1000, rows - start)
            cur.execute("insert into %s (u, name, ts, price, flags, doc) select seq, "
                        "concat('name-', seq), from_unixtime(1600000000 + seq + 0.123), seq / 7, "
                        "seq %% 32, json_object('k', seq) from seq_%d_to_%d" % (
                            sql.quote(table), start + 1, start + n))
    c.close()


def checksum(kw, table, cols=("id", "u", "name", "ts", "price", "flags", "doc")):
    c = connect(kw)
    row = c.cursor()
    row.execute(sql.table_checksum(kw["database"], table, cols, ("id",)))
    out = row.fetchone()
    c.close()
    return out


def engine_cmd(kw, table, alter, *extra):
    return [sys.executable, "-m", "trove_lite.osc", "--host=%s" % kw["host"],
            "--port=%d" % kw["port"], "--user=%s" % kw["user"], "--password=%s" % kw["password"],
            "--database=%s" % kw["database"], "--table=%s" % table, "--alter=%s" % alter,
            "--allow-on-master", "--assume-rbr", "--initially-drop-old-table",
            "--initially-drop-ghost-table", "--default-retries=3", "--execute", *extra]


def start_engine(cmd, log_path, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=full_env)
    log.close()
    return proc


def wait_log(path, text, proc=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            if text in f.read():
                return True
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    with open(path, errors="replace") as f:
        raise AssertionError("%r not seen in engine log:\n%s" % (text, f.read()[-3000:]))


class Writer(threading.Thread):
    """Inserts, updates and deletes rows in a loop; records what committed."""

    def __init__(self, kw, table, rate=200):
        super().__init__(daemon=True)
        self.kw, self.table, self.rate = kw, table, rate
        self.stop_event = threading.Event()
        self.inserted = []
        self.deleted = set()
        self.ops = 0
        self.last_op_time = time.monotonic()
        self.errors = []

    def run(self):
        c = connect(self.kw)
        cur = c.cursor()
        t = sql.quote(self.table)
        i = 0
        while not self.stop_event.is_set():
            i += 1
            try:
                cur.execute("insert into %s (u, name, ts, price, flags, doc) values "
                            "(%%s, %%s, now(3), %%s, %%s, json_object('w', %%s))" % t,
                            (10_000_000 + i, "w-%d" % i, i / 3, i % 32, i))
                self.inserted.append(cur.lastrowid)
                cur.execute("update %s set name = concat(name, '+'), price = price + 1 "
                            "where id = %%s" % t, (1 + (i * 7919) % 5000,))
                if i % 10 == 0:
                    victim = 2 + (i * 104729) % 5000
                    if cur.execute("delete from %s where id = %%s" % t, (victim,)):
                        self.deleted.add(victim)
                    # move a unique value onto another row: collisions in the ghost table
                    cur.execute("update %s set u = -u where id = %%s" % t, (3 + (i * 31) % 5000,))
                self.ops += 1
                self.last_op_time = time.monotonic()
            except pymysql.MySQLError as exc:  # a killed cut-over session may fail one write
                self.errors.append(exc)
                try:
                    c.ping(reconnect=True)
                    cur = c.cursor()
                except pymysql.MySQLError:
                    time.sleep(0.05)
            time.sleep(1.0 / self.rate)
        c.close()

    def surviving(self):
        """Ids this writer inserted and did not delete: they must all be in the table."""
        return set(self.inserted) - self.deleted

    def stop(self):
        self.stop_event.set()
        self.join(10)
