# An EPJ's side of the HelseID path, with attest's test tool standing in for HelseID (access_token):
# in production HelseID issues the token; the EPJ only makes a fresh DPoP proof for each request.
import json, sys
from attest import load_private_key
from attest.helseid import access_token, dpop_proof

helseid_key = load_private_key("keys_example/helseid-test/private.pem")   # TEST: stands in for HelseID
kid = json.load(open("keys_example/helseid-test/public.jwk.json"))["kid"]
dpop_key = load_private_key("keys_example/epj-dpop/private.pem")          # the EPJ's DPoP key
attestation = json.load(open("examples/helseid-enriched-attestation.json"))

if sys.argv[1] == "token":
    print(access_token(attestation, key=helseid_key, kid=kid, issuer="https://helseid-sts.test.example",
                       audience="nhn:phr", client_id="2141d734-7604-42ca-a377-27f1b712f4e6",
                       pid="05086900124", hpr_number="222200068", name="BEN REDDIK",
                       scope=["nhn:phr/mhd/read-documentreferences"], dpop_key=dpop_key,
                       orgnr_parent="993467049", orgnr_child="874716782", lifetime=300))
else:  # proof METHOD URL TOKEN
    print(dpop_proof(dpop_key, method=sys.argv[2], url=sys.argv[3], access_token=sys.argv[4]))
