#include "common/settings_schema.h"

#include <filesystem>
#include <system_error>

#include "common/sweep_rules.h"

namespace compsweep::settings {
namespace {

using nlohmann::json;
using sweep_internal::KeyRule;

std::string KeyNames(const std::string& section) {
  std::vector<std::string> keys;
  for (const KeyRule* r : sweep_internal::SectionRules(section)) keys.push_back(r->key);
  return sweep_internal::JoinWords(keys);
}

bool IsUnder(const std::filesystem::path& path, const std::filesystem::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing '/' of the root
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

Result<json> Resolve(const std::string& section, const json& given) {
  if (sweep_internal::SectionRules(section).empty()) {
    return InvalidArgument("unknown settings section '" + section + "'");
  }
  if (!given.is_null() && !given.is_object()) {
    return InvalidArgument("settings of " + section + " must be an object, got " +
                           sweep_internal::ClipText(given.dump(), 80));
  }
  json out = sweep_internal::SectionDefaults(section);
  if (given.is_null()) return out;
  for (const auto& [key, value] : given.items()) {
    const KeyRule* rule = sweep_internal::FindRule(section, key);
    if (rule == nullptr) {
      std::vector<std::string> keys;
      for (const KeyRule* r : sweep_internal::SectionRules(section)) keys.push_back(r->key);
      std::string hint = sweep_internal::DidYouMean(key, keys);
      if (hint.empty()) hint = "; " + section + " takes " + KeyNames(section);
      return InvalidArgument("unknown setting '" + section + "." + key + "'" + hint);
    }
    std::string error;
    auto checked = sweep_internal::CheckJsonValue(*rule, value, &error);
    if (!checked) return InvalidArgument(error);
    out[key] = *checked;
  }
  return out;
}

json Default(const std::string& section, const std::string& key) {
  const KeyRule* rule = sweep_internal::FindRule(section, key);
  return rule ? rule->default_value : json();
}

std::vector<std::string> Choices(const std::string& section, const std::string& key) {
  const KeyRule* rule = sweep_internal::FindRule(section, key);
  return rule ? rule->choices : std::vector<std::string>{};
}

std::string Help(const std::string& section, const std::string& key) {
  const KeyRule* rule = sweep_internal::FindRule(section, key);
  if (rule == nullptr) return "";
  std::string text = rule->doc;
  if (!rule->choices.empty()) {
    text += (text.empty() ? "" : "; ") + sweep_internal::JoinWords(rule->choices, " | ");
  }
  return text;
}

const std::vector<std::string>& Architectures() { return sweep_internal::Architectures(); }

Result<std::string> CheckFileToOpen(const std::string& field, const std::string& path,
                                    const std::vector<std::string>& roots) {
  namespace fs = std::filesystem;
  std::string why = sweep_internal::CheckUserPath(field, path, roots);
  if (path.empty()) why = field + " is empty";
  if (!why.empty()) return InvalidArgument(why);
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec) return NotFound(field + " '" + path + "': " + ec.message());
  bool allowed = false;
  if (!path.empty() && path.front() != '/') {
    const fs::path cwd = fs::canonical(fs::current_path(ec), ec);
    allowed = !ec && IsUnder(canonical, cwd);
  }
  for (const std::string& root : roots) {
    const fs::path canonical_root = fs::weakly_canonical(root, ec);
    if (!ec && IsUnder(canonical, canonical_root)) allowed = true;
  }
  if (!allowed) {
    return InvalidArgument(field + " '" + path + "' resolves to '" + canonical.string() +
                           "' (through a symbolic link), outside the working directory and the "
                           "allowed folder(s)");
  }
  if (!fs::is_regular_file(canonical, ec)) {
    return InvalidArgument(field + " '" + path + "' is not a regular file");
  }
  return canonical.string();
}

}  // namespace compsweep::settings
