"""The broker as deployed: password authentication and the ACL in deploy/mosquitto/acl."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest

from ..conftest import query, wait_for
from ..services import ROOT, Mosquitto

USERS = {"pingan-ingest": "s3cret", "cam01": "cam01-pw"}


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("mosquitto-auth")
    passwd = work / "passwd"
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", *([] if passwd.exists() else ["-c"]), str(passwd), user, password],
                       check=True, capture_output=True)
    os.chmod(passwd, 0o600)
    m = Mosquitto(work, anonymous=False,
                  extra=f"password_file {passwd}\nacl_file {ROOT / 'deploy' / 'mosquitto' / 'acl'}").start()
    yield m
    m.stop()


def ingest(url: str, db_url: str, client_id: str, duration: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env.update({"PINGAN_MQTT_URL": url, "PINGAN_DATABASE_URL": db_url, "PINGAN_MQTT__CLIENT_ID": client_id,
                "PINGAN_MQTT__SHARE_GROUP": client_id, "PINGAN_REDIS_URL": "redis://127.0.0.1:6379/9",
                "PINGAN_INGEST__AUTO_REGISTER": "false"})
    return subprocess.Popen([sys.executable, "-m", "pingan.cli", "ingest", "--duration", str(duration)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_bad_credentials_stop_the_worker_with_a_clear_error(secured_broker, db_url):
    p = ingest(f"mqtt://pingan-ingest:wrong@127.0.0.1:{secured_broker.port}", db_url, "auth-bad", 60)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3, err[-2000:]
    # Mosquitto answers a wrong password with "Not authorized"
    assert "refused the connection: Not authorized" in err or "Bad user name or password" in err
    assert "check the user and password in PINGAN_MQTT_URL" in err  # says where to fix it
    assert err.count("refused the connection") <= 2  # it stopped, it did not keep retrying


def test_devices_publish_only_their_own_topics(secured_broker, db_url):
    p = ingest(f"mqtt://pingan-ingest:s3cret@127.0.0.1:{secured_broker.port}", db_url, "auth-good", 20)
    try:
        cam = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cam01", protocol=mqtt.MQTTv5)
        cam.username_pw_set("cam01", USERS["cam01"])
        cam.connect("127.0.0.1", secured_broker.port)
        cam.loop_start()
        time.sleep(3)  # the worker is up and subscribed
        now = time.time()
        cam.publish("pingan/v1/camera/cam01/health", b'{"ts": %f, "online": true}' % now, qos=1).wait_for_publish(10)
        # posing as another camera: the broker does not pass it on
        cam.publish("pingan/v1/camera/cam02/health", b'{"ts": %f, "online": false}' % now, qos=1).wait_for_publish(10)
        wait_for(lambda: query(db_url, "SELECT count(*) FROM pingan.camera_health")[0][0] >= 1, 20, what="health row")
        time.sleep(1.0)
        assert query(db_url, "SELECT camera_id, online FROM pingan.camera_health") == [("cam01", True)]
        cam.loop_stop()
        cam.disconnect()
    finally:
        p.terminate()
        p.communicate(timeout=30)
