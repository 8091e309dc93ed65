# Drives Strongroom's KMIP listener with the independent PyKMIP client (Debian python3-pykmip); prints one JSON report.
import json
import sys

from kmip.core import enums
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient

host, port, bundle, version = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
versions = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}
report = {"version": version, "steps": {}}


def step(name, fn):
    try:
        report["steps"][name] = {"ok": True, "value": fn()}
    except Exception as e:  # noqa: BLE001 - the report carries the failure to the test
        report["steps"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
        return None
    return report["steps"][name]["value"]


c = ProxyKmipClient(
    hostname=host,
    port=port,
    cert=f"{bundle}/cert.pem",
    key=f"{bundle}/key.pem",
    ca=f"{bundle}/ca.pem",
    kmip_version=versions[version],
)
c.open()
suffix = version.replace(".", "")
uid = step("create", lambda: c.create(enums.CryptographicAlgorithm.AES, 256, name=f"py-aes-{suffix}"))
# PyKMIP 0.10's client cannot parse attributes newer than KMIP 1.1 (Original Creation Date, Random
# Number Generator, …) that a full Get Attributes returns from KMIP 1.2 on, so it names what it wants.
WANTED = [
    "Unique Identifier",
    "Name",
    "Object Type",
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Usage Mask",
    "State",
    "Initial Date",
    "Last Change Date",
    "Digest",
]
step("get_attributes", lambda: sorted({a.attribute_name.value for a in c.get_attributes(uid, WANTED)[1]}))
step("get_attribute_list", lambda: sorted(c.get_attribute_list(uid)))
name_attr = c.attribute_factory.create_attribute(enums.AttributeType.NAME, f"py-aes-{suffix}")
step("locate", lambda: c.locate(attributes=[name_attr]))
step("activate", lambda: c.activate(uid) or True)
step("get", lambda: len(c.get(uid).value))
params = {
    "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
    "block_cipher_mode": enums.BlockCipherMode.CBC,
    "padding_method": enums.PaddingMethod.PKCS5,
}
iv = bytes(range(16))
ct = step("encrypt", lambda: c.encrypt(b"strongroom pykmip interop", uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv)[0].hex())
step("decrypt", lambda: c.decrypt(bytes.fromhex(ct), uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv).decode())
reg = step(
    "register",
    lambda: c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, bytes(range(16)), name=f"py-reg-{suffix}")),
)
step("get_registered", lambda: c.get(reg).value.hex())
pub, priv = step("create_key_pair", lambda: list(c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048))) or (None, None)
step("activate_pair", lambda: (c.activate(pub), c.activate(priv)) and True)
sig_params = {
    "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
    "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
    "padding_method": enums.PaddingMethod.PSS,
}
sig = step("sign", lambda: c.sign(b"signed by strongroom", uid=priv, cryptographic_parameters=sig_params).hex())
step(
    "signature_verify",
    lambda: str(c.signature_verify(b"signed by strongroom", bytes.fromhex(sig), uid=pub, cryptographic_parameters=sig_params)),
)
mac_key = step(
    "create_hmac",
    lambda: c.create(
        enums.CryptographicAlgorithm.HMAC_SHA256,
        256,
        name=f"py-mac-{suffix}",
        cryptographic_usage_mask=[enums.CryptographicUsageMask.MAC_GENERATE, enums.CryptographicUsageMask.MAC_VERIFY],
    ),
)
step("activate_hmac", lambda: c.activate(mac_key) or True)
step("mac", lambda: c.mac(b"mac me", uid=mac_key, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)[1].hex())
step("rekey", lambda: c.rekey(uid=uid) != uid)
step("revoke", lambda: c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid) or True)
step("destroy", lambda: c.destroy(uid) or True)
step("get_destroyed_state", lambda: str([a.attribute_value for a in c.get_attributes(uid, ["State"])[1]][0]))
c.close()
print(json.dumps(report))
