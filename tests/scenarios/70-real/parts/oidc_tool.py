"""The OIDC issuer of the real lane's part oidc (tests/scenarios/70-real/parts/oidc.sh).

  oidc_tool.py issuer DIR URL          CA + serving cert (IP/DNS SAN of URL's host), RSA signing key, discovery
                                       document and JWKS in DIR (the CA and key stay in DIR, made here)
  oidc_tool.py token DIR URL AUD SUB [--groups a,b] [--exp SECONDS] [--key OTHER_DIR]
                                       an RS256 JWT (hand-rolled: header.payload.signature, base64url), signed with
                                       DIR's key, or with OTHER_DIR's key (a forged token); --exp negative = expired
  oidc_tool.py serve DIR PORT          HTTPS server of DIR/www (stdlib only: runs on the lab's mirror host)

The CA, keys and tokens are made on the machine with python cryptography; the mirror host only serves files.
"""
from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import sys
import time
from urllib.parse import urlsplit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def issuer(d: str, url: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(os.path.join(d, "www", ".well-known"), exist_ok=True)
    host = urlsplit(url).hostname
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "groundwork lab OIDC issuer CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    try:
        san = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tls = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
           .issuer_name(ca_name).public_key(tls_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
           .add_extension(x509.SubjectAlternativeName([san]), critical=False)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    sign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialization.Encoding.PEM
    nopw = serialization.NoEncryption()
    pk8 = serialization.PrivateFormat.PKCS8
    files = {
        "ca.crt": ca.public_bytes(pem),
        "tls.crt": tls.public_bytes(pem) + ca.public_bytes(pem),
        "tls.key": tls_key.private_bytes(pem, pk8, nopw),
        "signing.key": sign_key.private_bytes(pem, pk8, nopw),
    }
    for name, data in files.items():
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    nums = sign_key.public_key().public_numbers()
    kid = b64url(__import__("hashlib").sha256(str(nums.n).encode()).digest()[:12])
    jwks = {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": _int_b64(nums.n), "e": _int_b64(nums.e)}]}
    disco = {"issuer": url, "jwks_uri": url.rstrip("/") + "/jwks.json", "response_types_supported": ["id_token"],
             "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}
    with open(os.path.join(d, "www", "jwks.json"), "w") as f:
        json.dump(jwks, f)
    with open(os.path.join(d, "www", ".well-known", "openid-configuration"), "w") as f:
        json.dump(disco, f)
    with open(os.path.join(d, "kid"), "w") as f:
        f.write(kid)


def token(d: str, url: str, aud: str, sub: str, groups: list, exp: int, key_dir: str | None) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    kd = key_dir or d
    with open(os.path.join(kd, "signing.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(os.path.join(d, "kid")) as f:
        kid = f.read().strip()
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    claims = {"iss": url, "aud": aud, "sub": sub, "iat": now - 60, "nbf": now - 60, "exp": now + exp}
    if exp < 0:
        claims["iat"] = claims["nbf"] = now + exp - 600
    if groups:
        claims["groups"] = groups
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


def serve(d: str, port: int) -> None:
    import http.server
    import ssl

    os.chdir(os.path.join(d, "www"))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):
            self.send_header("Content-Type", "application/json")
            super().end_headers()

        def guess_type(self, path):
            return "application/json"

    httpd = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "tls.crt"), os.path.join(d, "tls.key"))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.serve_forever()


def main(argv):
    cmd = argv[0] if argv else ""
    if cmd == "issuer" and len(argv) == 3:
        issuer(argv[1], argv[2])
    elif cmd == "token" and len(argv) >= 5:
        rest, groups, exp, key_dir = argv[5:], [], 600, None
        while rest:
            opt, val, rest = rest[0], rest[1], rest[2:]
            if opt == "--groups":
                groups = [g for g in val.split(",") if g]
            elif opt == "--exp":
                exp = int(val)
            elif opt == "--key":
                key_dir = val
            else:
                raise SystemExit("unknown option %s" % opt)
        print(token(argv[1], argv[2], argv[3], argv[4], groups, exp, key_dir))
    elif cmd == "serve" and len(argv) == 3:
        serve(argv[1], int(argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
