"""The deployment switches: embedded default, DATABASE_URL / REDIS_URL, production refusals."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(settings_module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "CHANNELS_", "SCREENS_LAYER"))
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = settings_module
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


PRINT = "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"


def test_embedded_default_is_sqlite_with_the_in_memory_layer(tmp_path):
    result = _run("sentiment_admin.settings.local", "shell", "-c", PRINT, SENTIMENT_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "django.db.backends.sqlite3",
        "sentiment_admin.layers.InMemoryChannelLayer",
    ]


def test_database_and_redis_urls_switch_to_postgresql_and_channels_redis():
    result = _run(
        "sentiment_admin.settings.local",
        "shell",
        "-c",
        PRINT,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "django.db.backends.postgresql",
        "sentiment_admin.layers.RedisChannelLayer",
    ]


SCREENS = (
    "from django.conf import settings as s; c = s.CHANNEL_LAYERS['screens'];"
    " print(c['BACKEND'], c.get('CONFIG', {}).get('prefix'))"
)


@pytest.mark.parametrize("database, prefix", [("3", "sentiment.db3."), ("4", "sentiment.db4.")])
def test_the_screens_go_over_redis_pub_sub_under_a_prefix_per_redis_database(database, prefix):
    """Pub/sub channels ignore Redis's database number: two centers on databases 3 and 4 of one
    server would hear each other's frames under one prefix."""
    result = _run(
        "sentiment_admin.settings.local",
        "shell",
        "-c",
        SCREENS,
        REDIS_URL=f"redis://127.0.0.1:6379/{database}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "sentiment_admin.layers.RedisPubSubChannelLayer",
        prefix,
    ]


def test_screens_layer_list_keeps_the_fan_out_on_the_list_layer_and_typos_are_refused():
    on_list = _run(
        "sentiment_admin.settings.local",
        "shell",
        "-c",
        SCREENS,
        REDIS_URL="redis://127.0.0.1:6379/0",
        SCREENS_LAYER="list",
    )
    assert on_list.returncode == 0, on_list.stderr
    assert on_list.stdout.strip().splitlines()[-1].split() == [
        "sentiment_admin.layers.RedisChannelLayer",
        "sentiment",
    ]
    typo = _run(
        "sentiment_admin.settings.local",
        "check",
        REDIS_URL="redis://127.0.0.1:6379/0",
        SCREENS_LAYER="fanout",
    )
    assert typo.returncode != 0
    assert "SCREENS_LAYER must be one of pubsub, list, not 'fanout'" in typo.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _run("sentiment_admin.settings.production", "check", DJANGO_ALLOWED_HOSTS="center.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = _run("sentiment_admin.settings.production", "check", DJANGO_SECRET_KEY="k" * 60)
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize("key", ["short", "embedded-mode-insecure-key-do-not-use-in-production" + "x" * 10])
def test_production_refuses_weak_or_default_secret_keys(key):
    result = _run(
        "sentiment_admin.settings.production",
        "check",
        DJANGO_SECRET_KEY=key,
        DJANGO_ALLOWED_HOSTS="center.example.com",
    )
    assert result.returncode != 0


@pytest.mark.parametrize(
    "database",
    [
        {},
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/center"},
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/center", "DB_POOL": "1"},
    ],
)
def test_check_deploy_passes_with_production_environment(tmp_path, database):
    result = _run(
        "sentiment_admin.settings.production",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY="p" * 20 + "-Zx9!" + "q7" * 20,
        DJANGO_ALLOWED_HOSTS="center.example.com",
        DJANGO_SECURE_HSTS_PRELOAD="1",
        SENTIMENT_VAR_DIR=str(tmp_path),
        **database,
    )
    assert result.returncode == 0, result.stdout + result.stderr


POOL = "from django.conf import settings as s; d = s.DATABASES['default']; print(d['CONN_MAX_AGE'], d.get('OPTIONS', {}).get('pool'))"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "300 None"),
        ({"DB_CONN_MAX_AGE": "0"}, "0 None"),
        ({"DB_POOL": "1"}, "0 {'min_size': 2, 'max_size': 10, 'timeout': 10.0}"),
        (
            {"DB_POOL": "1", "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "4", "DB_POOL_TIMEOUT": "3"},
            "0 {'min_size': 1, 'max_size': 4, 'timeout': 3.0}",
        ),
    ],
)
def test_postgresql_connections_are_persistent_or_from_a_pool_when_asked(env, expected):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", POOL],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "sentiment_admin.settings.local",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/center",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_the_embedded_sqlite_database_has_no_pool(tmp_path):
    result = _run("sentiment_admin.settings.local", "shell", "-c", POOL, SENTIMENT_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "300 None"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "host=127.0.0.1 seed_demo=1 demo_traffic=1 debug=default"),
        ({"DATABASE_URL": "postgres://db/center"}, "host=127.0.0.1 seed_demo=0 demo_traffic=0 debug=default"),
        (
            {"DATABASE_URL": "postgres://db/center", "SEED_DEMO": "1"},
            "host=127.0.0.1 seed_demo=1 demo_traffic=1 debug=default",
        ),
        ({"HOST": "0.0.0.0"}, "host=0.0.0.0 seed_demo=1 demo_traffic=1 debug=0"),
        ({"HOST": "192.0.2.10", "DJANGO_DEBUG": "1"}, "host=192.0.2.10 seed_demo=1 demo_traffic=1 debug=0"),
        ({"HOST": "localhost", "DJANGO_DEBUG": "1"}, "host=localhost seed_demo=1 demo_traffic=1 debug=1"),
        ({"DEMO_TRAFFIC": "0"}, "host=127.0.0.1 seed_demo=1 demo_traffic=0 debug=default"),
    ],
)
def test_run_sh_creates_demo_users_only_when_safe_and_never_debugs_off_loopback(env, expected):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SEED_DEMO", "DEMO_TRAFFIC", "HOST", "DJANGO_DEBUG")
    }
    result = subprocess.run(
        ["bash", "run.sh", "defaults"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
