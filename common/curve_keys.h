// CurveZMQ key files for authenticated, encrypted coordinator-worker traffic.
//
// A key pair is two text files made by `compsweep keygen NAME`: NAME.key holds the
// Z85 secret key (mode 0600) and NAME.pub the Z85 public key, each on its own line
// ('#' lines are comments). The coordinator serves with its secret key and admits
// only the workers whose public keys are in its clients folder (ZAP); a worker
// needs its own key pair and the coordinator's public key.
// Thread-safety: free functions, no shared state.
#pragma once

#include <set>
#include <string>

#include "common/status.h"

namespace compsweep {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// False when this libzmq was built without CURVE (libsodium).
bool CurveAvailable();

Result<CurveKeyPair> GenerateCurveKeyPair();

// Writes NAME.key (secret, 0600) and NAME.pub next to each other, refusing to
// overwrite either; `base` is the path without the extension.
Status WriteCurveKeyPair(const std::string& base, const CurveKeyPair& keys);

// Reads a .key file; the public key is derived from the secret one.
Result<CurveKeyPair> ReadCurveSecretKey(const std::string& path);

// Reads a .pub file (one Z85 key).
Result<std::string> ReadCurvePublicKey(const std::string& path);

// The public keys (Z85) of a clients folder's *.pub files, or of one .pub file.
// An empty set is an error: such a coordinator would admit nobody.
Result<std::set<std::string>> ReadCurveClientKeys(const std::string& path);

// The Z85 text of a 32-byte binary key (as ZAP hands it over).
std::string CurveKeyToZ85(const std::string& binary32);

}  // namespace compsweep
