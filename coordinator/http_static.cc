#include "coordinator/http_static.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

namespace compsweep::coordinator {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {

// Checks the decoded path: only plain segments of safe characters.
bool SafeRelative(const std::string& rel) {
  if (rel.empty() || rel.size() > 1024) return false;
  if (rel.front() == '/') return false;  // "//etc/passwd": an absolute path
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string seg = rel.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (seg.front() == '.' && seg != ".well-known") return false;  // hidden files
    for (unsigned char c : seg) {
      if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return false;
    }
    start = end + 1;
  }
  return true;
}

bool IsUnder(const fs::path& base, const fs::path& p) {
  auto b = base.begin();
  auto q = p.begin();
  for (; b != base.end(); ++b, ++q) {
    if (q == p.end() || *b != *q) return false;
  }
  return true;
}

}  // namespace

StaticFiles::StaticFiles(const std::string& root) {
  if (root.empty()) return;
  std::error_code ec;
  fs::path canon = fs::canonical(root, ec);
  if (!ec && fs::is_directory(canon, ec)) root_ = canon;
}

Result<fs::path> StaticFiles::Under(const fs::path& base, const std::string& relative) const {
  std::error_code ec;
  const fs::path canon_base = fs::canonical(base, ec);
  if (ec || !IsUnder(root_, canon_base)) return NotFound("no such file");
  const fs::path file = fs::canonical(canon_base / fs::path(relative), ec);
  if (ec || !IsUnder(canon_base, file)) return NotFound("no such file");
  if (!fs::is_regular_file(file, ec) || ec) return NotFound("no such file");
  return file;
}

Result<fs::path> StaticFiles::Resolve(std::string_view encoded_path) const {
  if (root_.empty()) return NotFound("no static directory");
  if (encoded_path.empty() || encoded_path.front() != '/') return NotFound("bad path");
  // Encoded separators and backslashes never name a file here: reject them before
  // decoding so that "%2f" cannot smuggle a segment boundary past the checks.
  for (size_t i = 0; i < encoded_path.size(); ++i) {
    const char c = encoded_path[i];
    if (c == '\\') return NotFound("bad path");
    if (c == '%' && i + 2 < encoded_path.size()) {
      const char a = encoded_path[i + 1];
      const char b =
          static_cast<char>(std::tolower(static_cast<unsigned char>(encoded_path[i + 2])));
      if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0')) {
        return NotFound("bad path");
      }
    }
  }
  auto decoded = UrlDecode(encoded_path);
  if (!decoded) return NotFound("bad path");
  std::string rel = decoded->substr(1);
  if (rel.empty()) rel = "index.html";
  if (!rel.empty() && rel.back() == '/') rel += "index.html";
  if (!SafeRelative(rel)) return NotFound("bad path");
  static const std::string kVendor = "vendor/";
  if (rel.compare(0, kVendor.size(), kVendor) == 0) {
    const std::string rest = rel.substr(kVendor.size());
    auto vendored = Under(root_ / "vendor", rest);
    if (vendored.ok()) return vendored;
    return Under(root_ / "node_modules", rest);
  }
  if (rel.compare(0, 13, "node_modules/") == 0) return NotFound("no such file");
  return Under(root_, rel);
}

HttpResponse StaticFiles::Serve(const HttpRequest& req, std::string_view encoded_path) const {
  auto file = Resolve(encoded_path);
  if (!file.ok()) {
    return TextResponse(req, http::status::not_found, "text/plain; charset=utf-8", "not found\n");
  }
  std::ifstream in(*file, std::ios::binary);
  if (!in) {
    return TextResponse(req, http::status::not_found, "text/plain; charset=utf-8", "not found\n");
  }
  std::ostringstream body;
  body << in.rdbuf();
  HttpResponse res =
      TextResponse(req, http::status::ok, ContentTypeFor(file->string()), std::move(body).str());
  res.set(http::field::cache_control, "no-cache");
  if (req.method() == http::verb::head) {
    const auto size = res.body().size();
    res.body().clear();
    res.content_length(size);
  }
  return res;
}

}  // namespace compsweep::coordinator
