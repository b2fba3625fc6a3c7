"""A sagemaker.Session wired to a cairn server, in one call, as sagemaker.LocalSession is for
local mode:

    import sys; sys.path.insert(0, "<cairn>/python")
    import cairn_sagemaker
    session = cairn_sagemaker.session("http://127.0.0.1:8770", s3_endpoint="http://127.0.0.1:7480",
                                      bucket="models")
    role = sagemaker.get_execution_role(session)
    PyTorch(entry_point="train.py", role=role, ..., sagemaker_session=session).fit(...)

Or, for code written for SageMaker that makes its own sessions (`sagemaker.get_execution_role()`,
`PyTorch(...)` without sagemaker_session, `boto3.client("s3")`), one line before it:

    cairn_sagemaker.install("http://127.0.0.1:8770", s3_endpoint="http://127.0.0.1:7480")

The SDK makes its own boto3 clients from the session's boto3 session (S3, CloudWatch Logs, STS
with an explicit endpoint_url, IAM, CloudWatch); this one sends SageMaker, its runtime, Logs,
STS, IAM and CloudWatch to the cairn server and S3 to the S3 endpoint (path-style), whatever
endpoint the SDK asks for. Credentials: the arguments, else the usual AWS variables and files."""
import boto3
import botocore.config

# Services cairn server answers (the SDK creates clients for all of them).
CAIRN_SERVICES = ("sagemaker", "sagemaker-runtime", "runtime.sagemaker", "sagemaker-metrics",
                  "logs", "sts", "iam", "cloudwatch")


class CairnBotoSession(boto3.session.Session):
    """A boto3 Session whose clients and resources go to cairn server and an S3 endpoint."""

    def __init__(self, server_url, s3_endpoint=None, **kwargs):
        super().__init__(**kwargs)
        self.cairn_server_url = server_url
        self.cairn_s3_endpoint = s3_endpoint

    def _cairn_route(self, service_name, kwargs):
        if service_name in CAIRN_SERVICES:
            kwargs["endpoint_url"] = self.cairn_server_url
        elif service_name == "s3" and self.cairn_s3_endpoint:
            kwargs["endpoint_url"] = self.cairn_s3_endpoint
            path_style = botocore.config.Config(s3={"addressing_style": "path"})
            given = kwargs.get("config")
            kwargs["config"] = given.merge(path_style) if given else path_style
        return kwargs

    def client(self, service_name, *args, **kwargs):
        return super().client(service_name, *args, **self._cairn_route(service_name, kwargs))

    def resource(self, service_name, *args, **kwargs):
        return super().resource(service_name, *args, **self._cairn_route(service_name, kwargs))


def _default_kms_key(key_id):
    """SSE-KMS without a key id means the account's default key (aws/s3) on AWS; an S3 server
    without one (Ceph RGW) needs the id named. Fills it in where the SDK leaves it out."""
    def fill(params, **_):
        if params.get("ServerSideEncryption") == "aws:kms" and not params.get("SSEKMSKeyId"):
            params["SSEKMSKeyId"] = key_id
    return fill


def _drop_unknown_parameters(params, model=None, **_):
    """Makes the SDK's requests ones botocore sends:
      - The SDK (v2.230) sends fields newer than an older botocore's service model knows (Debian
        12's botocore 1.29 lacks CreateModelPackage's SkipModelValidation, say), which botocore
        would refuse before sending. Such fields are dropped; cairn server ignores them anyway.
      - An empty list where the model asks for at least one item is dropped, as meaning none:
        `estimator.fit({})` (the seed's own call) sends InputDataConfig=[], which botocore refuses
        client-side ("valid min length: 1"), against AWS too; cairn runs the job without
        channels, as SageMaker does when InputDataConfig is left out."""
    if model is None or model.input_shape is None:
        return
    known = model.input_shape.members
    for name in [k for k in params if k not in known]:
        del params[name]
    for name in [k for k, v in params.items() if isinstance(v, list) and not v]:
        if known[name].type_name == "list" and known[name].metadata.get("min", 0) > 0:
            del params[name]


def boto_session(server_url, s3_endpoint=None, region="us-east-1", aws_access_key_id=None,
                 aws_secret_access_key=None, s3_kms_key_id=None):
    """The boto3 session behind session() and install(): its clients go to cairn server and the S3
    endpoint (see CairnBotoSession), with the SDK's newer request fields dropped and the KMS key
    filled in."""
    boto = CairnBotoSession(server_url, s3_endpoint, region_name=region,
                            aws_access_key_id=aws_access_key_id,
                            aws_secret_access_key=aws_secret_access_key)
    boto.events.register("before-parameter-build.sagemaker", _drop_unknown_parameters)
    if s3_kms_key_id:
        for op in ("PutObject", "CreateMultipartUpload", "CopyObject"):
            boto.events.register(f"before-parameter-build.s3.{op}", _default_kms_key(s3_kms_key_id))
    return boto


def install(server_url, s3_endpoint=None, region="us-east-1", aws_access_key_id=None,
            aws_secret_access_key=None, s3_kms_key_id=None):
    """Makes cairn the default for this process: boto3.DEFAULT_SESSION becomes boto_session(...),
    so every sagemaker.Session() the SDK makes by itself (get_execution_role(), an estimator
    without sagemaker_session) and every boto3.client(...) go to cairn server and the S3
    endpoint. Their default_bucket() is the SDK's sagemaker-<region>-<account>, created on the S3
    endpoint when missing, as on AWS. Returns the boto3 session."""
    boto = boto_session(server_url, s3_endpoint, region, aws_access_key_id, aws_secret_access_key,
                        s3_kms_key_id)
    boto3.DEFAULT_SESSION = boto
    return boto


def session(server_url, s3_endpoint=None, bucket=None, region="us-east-1",
            aws_access_key_id=None, aws_secret_access_key=None, s3_kms_key_id=None,
            **session_kwargs):
    """A sagemaker.Session whose every call goes to cairn server at `server_url` and whose S3
    objects go to `s3_endpoint` (None: AWS S3). `bucket` is its default_bucket() (None: the SDK's
    sagemaker-<region>-<account>, created if missing). `s3_kms_key_id`: the KMS key the S3 server
    uses for uploads the SDK encrypts with aws:kms but no key id (AWS's default aws/s3 key)."""
    import sagemaker  # imported here: cairn's other tools do not need the SDK

    boto = boto_session(server_url, s3_endpoint, region, aws_access_key_id, aws_secret_access_key,
                        s3_kms_key_id)
    return sagemaker.Session(boto_session=boto,
                             sagemaker_client=boto.client("sagemaker"),
                             sagemaker_runtime_client=boto.client("sagemaker-runtime"),
                             default_bucket=bucket, **session_kwargs)
