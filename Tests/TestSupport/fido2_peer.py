#!/usr/bin/env python3
"""A software authenticator and a relying party made of PyPI fido2's own pieces, for WebAuthnTests and the sites' tests.

  fido2_peer.py RP_ID ORIGIN CHALLENGE_B64URL ALG        (ALG: ES256 or RS256)
  fido2_peer.py register RP_ID ORIGIN CHALLENGE_B64URL    a passkey (ES256) as a browser hands it to a site
  fido2_peer.py assert RP_ID ORIGIN CHALLENGE_B64URL KEY CREDENTIAL_ID COUNTER   signing in with it

`register` prints {"credential": <the PublicKeyCredential JSON a page posts>, "key": <the private key, PKCS#8
base64url>}; `assert` prints the assertion's PublicKeyCredential JSON for the key and credential ID `register` gave.

Makes a registration and ceremonies derived from it (valid ones and one mutation each), has fido2's Fido2Server
verify every one, and prints JSON: {"publicKey", "credentialId", "cases": [{name, ceremony, requireUserVerification,
storedSignCount, clientDataJSON, attestationObject | authenticatorData + signature, fido2}]}, binary fields
base64url, fido2 = "accepted" or "refused: <its reason>". The expectations live in the Swift tests.
Also imported by fuzz/make-seeds.py for the FuzzWebAuthn seeds."""
import json, os, struct, sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from fido2 import cbor
from fido2.cose import ES256, RS256, EdDSA
from fido2.server import Fido2Server
from fido2.utils import sha256, websafe_decode, websafe_encode
from fido2.webauthn import (AttestationObject, AttestedCredentialData, AuthenticatorData, CollectedClientData)

FLAG = AuthenticatorData.FLAG
EVIL_ORIGIN = "https://evil.example.com"


class Authenticator:
    """One credential: its key pair, ID and COSE key, signing what fido2's data classes build."""

    def __init__(self, alg, rsa_bits=2048):
        if alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.cose = ES256.from_cryptography_key(self.key.public_key())
        elif alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
            self.cose = RS256.from_cryptography_key(self.key.public_key())
        else:
            self.key = ed25519.Ed25519PrivateKey.generate()
            self.cose = EdDSA.from_cryptography_key(self.key.public_key())
        self.alg = alg
        self.credential_id = os.urandom(32)
        self.aaguid = bytes(16)

    def sign(self, message):
        if self.alg == "ES256":
            return self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        if self.alg == "RS256":
            return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(message)

    def credential(self):
        return AttestedCredentialData.create(self.aaguid, self.credential_id, self.cose)

    def register(self, rp_id, client_data, flags, fmt="none", att_stmt=None, extensions=None, after_auth_data=b""):
        auth_data = bytes(AuthenticatorData.create(sha256(rp_id.encode()), flags, 0, self.credential(), extensions)) + after_auth_data
        if fmt == "packed":   # self attestation (§8.2): the credential's own key signs authData || clientDataHash
            att_stmt = {"alg": self.cose.ALGORITHM, "sig": self.sign(auth_data + client_data.hash)}
        # Encoded by hand: AttestationObject.create would parse (and refuse) authData with bytes after its end.
        return cbor.encode({"fmt": fmt, "authData": auth_data, "attStmt": att_stmt or {}})

    def assertion(self, rp_id, client_data, flags, counter, extensions=None, trailing=b""):
        auth_data = bytes(AuthenticatorData.create(sha256(rp_id.encode()), flags, counter, extensions=extensions)) + trailing
        return auth_data, self.sign(auth_data + client_data.hash)


def client_data(kind, challenge, origin, cross_origin=False):
    return CollectedClientData.create(type=kind, challenge=challenge, origin=origin, cross_origin=cross_origin)


def fido2_verdict(action):
    try:
        action()
        return "accepted"
    except Exception as error:   # any refusal, whatever fido2 raises it as
        return f"refused: {type(error).__name__}: {error}"


def ceremonies(rp_id, origin, challenge, alg):
    """The registration and assertion cases for one algorithm, each with fido2's verdict."""
    server = Fido2Server({"id": rp_id, "name": "Portal"}, attestation="none")
    user = {"id": b"user-handle-0001", "name": "patient", "displayName": "Patient"}
    auth = Authenticator(alg)
    create, get = CollectedClientData.TYPE.CREATE, CollectedClientData.TYPE.GET
    other_challenge = bytes(b ^ 0x55 for b in challenge)
    up_uv, at = FLAG.UP | FLAG.UV, FLAG.AT
    cases = []

    def registration(name, data, attestation, require_uv=True):
        _, state = server.register_begin(user, user_verification="required" if require_uv else "preferred", challenge=challenge)
        response = {"id": websafe_encode(auth.credential_id), "rawId": websafe_encode(auth.credential_id), "type": "public-key",
                    "response": {"clientDataJSON": websafe_encode(data), "attestationObject": websafe_encode(attestation)}}
        cases.append({"name": name, "ceremony": "registration", "requireUserVerification": require_uv, "storedSignCount": 0,
                      "clientDataJSON": websafe_encode(data), "attestationObject": websafe_encode(attestation),
                      "fido2": fido2_verdict(lambda: server.register_complete(state, response))})

    def register(name, flags=up_uv | at, kind=create, data_challenge=challenge, data_origin=origin, key_rp=rp_id, require_uv=True,
                 cross_origin=False, by=None, **options):
        data = client_data(kind, data_challenge, data_origin, cross_origin)
        registration(name, data, (by or auth).register(key_rp, data, flags, **options), require_uv)

    register("valid")
    register("valid-without-uv", flags=FLAG.UP | at, require_uv=False)
    register("backed-up", flags=up_uv | at | FLAG.BE | FLAG.BS)
    register("extensions", flags=up_uv | at | FLAG.ED, extensions={"credProtect": 2})
    register("packed-self-attestation", fmt="packed")
    register("wrong-challenge", data_challenge=other_challenge)
    register("wrong-origin", data_origin=EVIL_ORIGIN)
    register("wrong-rp-id", key_rp="evil.example.com")
    register("up-cleared", flags=FLAG.UV | at)
    register("uv-cleared-required", flags=FLAG.UP | at)
    register("wrong-type", kind=get)
    register("cross-origin", cross_origin=True)
    register("backup-state-without-eligibility", flags=up_uv | at | FLAG.BS)
    register("unregistered-format", fmt="x-custom")
    register("none-with-statement", att_stmt={"sig": b"\x01\x02"})
    register("trailing-bytes-in-auth-data", after_auth_data=b"\x00")
    data = client_data(create, challenge, origin)
    registration("trailing-bytes", data, auth.register(rp_id, data, up_uv | at) + b"\x00")
    if alg == "ES256":
        register("eddsa-key", by=Authenticator("EdDSA"))
    else:
        register("rsa-1024", by=Authenticator("RS256", rsa_bits=1024))

    def assertion(name, flags=up_uv, kind=get, data_challenge=challenge, data_origin=origin, key_rp=rp_id, require_uv=True,
                  counter=1, stored=0, cross_origin=False, flip=False, **options):
        data = client_data(kind, data_challenge, data_origin, cross_origin)
        auth_data, signature = auth.assertion(key_rp, data, flags, counter, **options)
        if flip:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        _, state = server.authenticate_begin([auth.credential()], user_verification="required" if require_uv else "preferred",
                                             challenge=challenge)
        response = {"id": websafe_encode(auth.credential_id), "rawId": websafe_encode(auth.credential_id), "type": "public-key",
                    "response": {"clientDataJSON": websafe_encode(data), "authenticatorData": websafe_encode(auth_data),
                                 "signature": websafe_encode(signature)}}
        cases.append({"name": name, "ceremony": "assertion", "requireUserVerification": require_uv, "storedSignCount": stored,
                      "clientDataJSON": websafe_encode(data), "authenticatorData": websafe_encode(auth_data),
                      "signature": websafe_encode(signature),
                      "fido2": fido2_verdict(lambda: server.authenticate_complete(state, [auth.credential()], response))})

    assertion("valid", counter=8, stored=7)
    assertion("valid-without-counter", counter=0, stored=0)
    assertion("valid-without-uv", flags=FLAG.UP, require_uv=False)
    assertion("extensions", flags=up_uv | FLAG.ED, extensions={"credProtect": 2})
    assertion("wrong-challenge", data_challenge=other_challenge)
    assertion("wrong-origin", data_origin=EVIL_ORIGIN)
    assertion("wrong-rp-id", key_rp="evil.example.com")
    assertion("up-cleared", flags=FLAG.UV)
    assertion("uv-cleared-required", flags=FLAG.UP)
    assertion("wrong-type", kind=create)
    assertion("signature-bit-flipped", flip=True)
    assertion("counter-went-backwards", counter=5, stored=7)
    assertion("counter-not-increased", counter=7, stored=7)
    assertion("counter-stopped", counter=0, stored=7)
    assertion("cross-origin", cross_origin=True)
    assertion("trailing-bytes", trailing=b"\x00")
    return {"credentialId": websafe_encode(auth.credential_id), "publicKey": websafe_encode(cbor.encode(auth.cose)), "cases": cases}


def register(rp_id, origin, challenge):
    auth = Authenticator("ES256")
    data = client_data(CollectedClientData.TYPE.CREATE, challenge, origin)
    attestation = auth.register(rp_id, data, FLAG.UP | FLAG.UV | FLAG.AT)
    key = auth.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    credential_id = websafe_encode(auth.credential_id)
    return {"key": websafe_encode(key), "credential": {
        "id": credential_id, "rawId": credential_id, "type": "public-key",
        "response": {"clientDataJSON": websafe_encode(data), "attestationObject": websafe_encode(attestation)}}}


def assertion_json(rp_id, origin, challenge, key, credential_id, counter):
    auth = Authenticator("ES256")
    auth.key = serialization.load_der_private_key(websafe_decode(key), password=None)
    data = client_data(CollectedClientData.TYPE.GET, challenge, origin)
    auth_data, signature = auth.assertion(rp_id, data, FLAG.UP | FLAG.UV, counter)
    return {"id": credential_id, "rawId": credential_id, "type": "public-key",
            "response": {"clientDataJSON": websafe_encode(data), "authenticatorData": websafe_encode(auth_data),
                         "signature": websafe_encode(signature), "userHandle": None}}


if __name__ == "__main__":
    if sys.argv[1] == "register":
        json.dump(register(sys.argv[2], sys.argv[3], websafe_decode(sys.argv[4])), sys.stdout)
    elif sys.argv[1] == "assert":
        rp_id, origin, challenge, key, credential_id, counter = sys.argv[2:8]
        json.dump(assertion_json(rp_id, origin, websafe_decode(challenge), key, credential_id, int(counter)), sys.stdout)
    else:
        rp_id, origin, challenge, alg = sys.argv[1:5]
        json.dump(ceremonies(rp_id, origin, websafe_decode(challenge), alg), sys.stdout)
