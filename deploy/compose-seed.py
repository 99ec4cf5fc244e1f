"""One-shot seed for deploy/docker-compose.yml: make the bucket and upload a demo slide.

Runs in the app image (botocore and wsi_blueprint are installed there). Idempotent: an existing
bucket or object is left as it is, so `docker compose up` can run it again.
"""

import os
import sys
import tempfile

import botocore.session
from botocore.exceptions import ClientError

from wsi_blueprint.sample import SAMPLE_NAME, write_sample


def main() -> int:
    bucket = os.environ.get("SEED_BUCKET", "slides")
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=os.environ["WSI_S3_ENDPOINT_URL"],
        region_name=os.environ.get("WSI_S3_REGION", "us-east-1"))
    try:
        client.create_bucket(Bucket=bucket)
        print(f"bucket {bucket} ready", flush=True)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",
                                                   "BucketAlreadyExists"):
            raise
    try:
        client.head_object(Bucket=bucket, Key=SAMPLE_NAME)
        print(f"s3://{bucket}/{SAMPLE_NAME} is already there", flush=True)
        return 0
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    path = os.path.join(tempfile.gettempdir(), SAMPLE_NAME)
    write_sample(path)
    with open(path, "rb") as body:
        client.put_object(Bucket=bucket, Key=SAMPLE_NAME, Body=body, ContentType="image/tiff")
    os.remove(path)
    print(f"uploaded s3://{bucket}/{SAMPLE_NAME}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
