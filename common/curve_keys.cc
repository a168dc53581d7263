#include "common/curve_keys.h"

#include <zmq.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "common/atomic_file.h"

namespace compsweep {
namespace {

namespace fs = std::filesystem;

constexpr size_t kZ85KeyLength = 40;

bool ValidZ85Key(const std::string& z85) {
  if (z85.size() != kZ85KeyLength) return false;
  uint8_t binary[32];
  return zmq_z85_decode(binary, z85.c_str()) != nullptr;
}

// The first line of the file that is neither blank nor a comment, trimmed.
Result<std::string> ReadKeyLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open key file");
  std::string line;
  while (std::getline(in, line)) {
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const size_t e = line.find_last_not_of(" \t\r");
    return line.substr(b, e - b + 1);
  }
  return InvalidArgument(path + ": no key in the file");
}

Status WriteNew(const fs::path& path, const std::string& text, fs::perms perms) {
  if (fs::exists(path)) return AlreadyExists(path.string() + " exists; not overwriting a key");
  // The temporary file is created with the final permissions, before the secret goes in.
  return WriteFileAtomically(path.string(), text, static_cast<int>(perms));
}

}  // namespace

bool CurveAvailable() { return zmq_has("curve") != 0; }

Result<CurveKeyPair> GenerateCurveKeyPair() {
  if (!CurveAvailable()) return FailedPrecondition("this libzmq has no CURVE support");
  char pub[kZ85KeyLength + 1], sec[kZ85KeyLength + 1];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Internal(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{pub, sec};
}

Status WriteCurveKeyPair(const std::string& base, const CurveKeyPair& keys) {
  const fs::path key = base + ".key", pub = base + ".pub";
  if (fs::exists(key) || fs::exists(pub)) {
    return AlreadyExists((fs::exists(key) ? key : pub).string() + " exists; not overwriting a key");
  }
  RETURN_IF_ERROR(
      WriteNew(key, "# compsweep CURVE secret key: keep it private\n" + keys.secret_key + "\n",
               fs::perms::owner_read | fs::perms::owner_write));
  return WriteNew(pub, "# compsweep CURVE public key\n" + keys.public_key + "\n",
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                      fs::perms::others_read);
}

Result<CurveKeyPair> ReadCurveSecretKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string secret, ReadKeyLine(path));
  if (!ValidZ85Key(secret)) {
    return InvalidArgument(path + ": not a CURVE secret key (expected 40 Z85 characters)");
  }
  char pub[kZ85KeyLength + 1];
  if (zmq_curve_public(pub, secret.c_str()) != 0) {
    return InvalidArgument(path + ": cannot derive the public key: " + zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{pub, secret};
}

Result<std::string> ReadCurvePublicKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string key, ReadKeyLine(path));
  if (!ValidZ85Key(key)) {
    return InvalidArgument(path + ": not a CURVE public key (expected 40 Z85 characters)");
  }
  return key;
}

Result<std::set<std::string>> ReadCurveClientKeys(const std::string& path) {
  std::set<std::string> keys;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.path().extension() != ".pub") continue;
      ASSIGN_OR_RETURN(std::string key, ReadCurvePublicKey(entry.path().string()));
      keys.insert(key);
    }
    if (ec) return IoError(path + ": " + ec.message());
  } else {
    ASSIGN_OR_RETURN(std::string key, ReadCurvePublicKey(path));
    keys.insert(key);
  }
  if (keys.empty()) return InvalidArgument(path + ": no worker public keys (*.pub)");
  return keys;
}

std::string CurveKeyToZ85(const std::string& binary32) {
  if (binary32.size() != 32) return "";
  char out[kZ85KeyLength + 1];
  if (zmq_z85_encode(out, reinterpret_cast<const uint8_t*>(binary32.data()), 32) == nullptr) {
    return "";
  }
  return out;
}

}  // namespace compsweep
