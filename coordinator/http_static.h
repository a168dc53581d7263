// Static files of the dashboard, served from one directory with path traversal
// made impossible: the decoded path is checked segment by segment, then the
// canonical file path must lie under the canonical root.
// Thread-safety: immutable after construction; Serve may run on any thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"
#include "coordinator/http_util.h"

namespace compsweep::coordinator {

class StaticFiles {
 public:
  // An empty or missing root serves nothing (every path is 404).
  explicit StaticFiles(const std::string& root);

  // Maps an encoded URL path ("/", "/app.js", "/vendor/uplot/dist/uPlot.iife.min.js")
  // to a regular file under the root. "/" is index.html; "/vendor/<rest>" is looked
  // up in <root>/vendor/<rest>, then <root>/node_modules/<rest> (the npm packages
  // that `npm ci` installed, so that no copy step is needed). NotFound for anything
  // else, including every traversal attempt.
  Result<std::filesystem::path> Resolve(std::string_view encoded_path) const;

  // GET/HEAD response for the path: 200 with the file, or 404.
  HttpResponse Serve(const HttpRequest& req, std::string_view encoded_path) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  Result<std::filesystem::path> Under(const std::filesystem::path& base,
                                      const std::string& relative) const;
  std::filesystem::path root_;  // canonical, empty when unusable
};

}  // namespace compsweep::coordinator
