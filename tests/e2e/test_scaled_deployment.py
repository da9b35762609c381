"""End to end on the scaled deployment: PostgreSQL, a Redis queue and S3 storage.

The same day of calls as the embedded demo, but the service keeps its rows in a real
PostgreSQL, its jobs in a real Redis and its archive (encrypted) in an S3-compatible server,
each started on loopback by the test setup, and runs two web processes on one port
(`flexrec serve --processes 2`); a kill -9 mid-run must still lose nothing.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from flexrec.demo.runner import DemoOptions, execute
from flexsim import free_port

pytestmark = pytest.mark.e2e

BUCKET = "flexrec-archive"


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on loopback with one bucket."""
    from moto.server import ThreadedMotoServer

    # moto's server logs every request at INFO: thousands of lines of noise in a failure report
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def test_scaled_deployment_records_archives_and_survives_a_kill(
    tmp_path: Path, postgres_url: str, redis_url: str, s3_endpoint: str
) -> None:
    env = {
        "FLEXREC_DATABASE_URL": postgres_url,
        "FLEXREC_QUEUE_URL": redis_url,
        "FLEXREC_ARCHIVE_URL": f"s3://{BUCKET}/calls",
        "FLEXREC_S3_ENDPOINT_URL": s3_endpoint,
        "FLEXREC_ARCHIVE_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    score = execute(
        # Two web processes share the port: exactly once must hold across processes too.
        DemoOptions(calls=16, seed=21, restart=True, service_env=env, processes=2),
        tmp_path,
        Console(quiet=True),
    )
    assert score.restarts == 1
    assert score.recorded == score.eligible > 0
    assert score.duplicates == 0
    assert score.agent_leg_recordings == 0
    assert score.lost_attribute_writes == 0
    assert score.media_linked == score.recorded
    assert score.archived >= score.recorded
    assert score.analysed + score.analysis_mono == score.archived and score.settled
    # Nothing went to the embedded default: the SQLite file and local archive never appeared.
    assert not (tmp_path / "service" / "flexrec.db").exists()
    assert not (tmp_path / "service" / "archive").exists()
    objects = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).list_objects_v2(Bucket=BUCKET, Prefix="calls/")
    stored = [o["Key"] for o in objects.get("Contents", [])]
    audio = [key for key in stored if key.startswith("calls/recordings/")]
    analyses = [key for key in stored if key.startswith("calls/analyses/")]
    assert len(audio) == score.archived
    # Each analysis is an archived object too, sealed beside its audio (issue 20).
    assert len(analyses) == score.analysed + score.analysis_mono
    assert all(key.endswith(".enc") for key in audio + analyses), stored
    assert os.environ.get("FLEXREC_DATABASE_URL") is None  # the test's env never leaked
