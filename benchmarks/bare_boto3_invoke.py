"""The bare-boto3 contestant of ``cli_bench.py``: invoke once and print the function's answer.

``python benchmarks/bare_boto3_invoke.py ENDPOINT_URL REGION FUNCTION PAYLOAD``
"""

import sys

import boto3

client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name=sys.argv[2])
answer = client.invoke(FunctionName=sys.argv[3], Payload=sys.argv[4].encode())
sys.stdout.write(answer["Payload"].read().decode())
