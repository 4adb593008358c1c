#include "daemon/api_http.h"

#include <algorithm>

#include "lab/report_charts.h"

namespace iolab {

using nlohmann::json;

std::string content_type(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type;
}

void require_content_type(const httplib::Request& req, std::initializer_list<const char*> types) {
  const std::string type = content_type(req);
  for (const char* t : types) {
    if (type == t) return;
  }
  std::string list;
  for (const char* t : types) list += (list.empty() ? "" : ", ") + std::string(t);
  throw ApiError(415, "unsupported_media_type",
                 "Content-Type '" + type + "' is not accepted here (use " + list + ")",
                 "Content-Type");
}

// A JSON object body (api_requests.h), after its Content-Type.
JsonBody json_body(const httplib::Request& req, std::initializer_list<std::string> allowed) {
  require_content_type(req, {kJson});
  return JsonBody(req.body, allowed);
}

int64_t id_param(const httplib::Request& req, const char* what) {
  const std::string text = req.matches[1];
  int64_t id = 0;
  const bool digits = !text.empty() && text.size() <= 18 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) id = std::stoll(text);
  if (id <= 0)
    throw ApiError(404, "not_found", std::string("no ") + what + " '" + text + "'", "id");
  return id;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(render_answer(body), kJson);
}

void reply_error(httplib::Response& res, const ApiError& e) {
  reply(res, e.status(), e.to_json());
  if (e.status() == 401) res.set_header("WWW-Authenticate", "Bearer");
  if (e.retry_after_s() > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s()));
}

// rst, csv, json (the table), svg or html (charts); validated.
std::string format_param(const httplib::Request& req, bool& wide) {
  for (const auto& [key, value] : req.params) {
    if (key != "format" && key != "wide") {
      throw ApiError(400, "unknown_parameter", "unknown query parameter '" + key + "'", key);
    }
  }
  const std::string text = req.has_param("format") ? req.get_param_value("format") : "rst";
  if (!parse_report_format(text) && text != "svg" && text != "html") {
    throw ApiError(400, "bad_parameter",
                   "format must be rst, csv, json, svg or html, got '" + text + "'", "format");
  }
  const std::string w = req.has_param("wide") ? req.get_param_value("wide") : "false";
  if (w != "true" && w != "false" && w != "1" && w != "0") {
    throw ApiError(400, "bad_parameter", "wide must be true or false", "wide");
  }
  wide = w == "true" || w == "1";
  return text;
}

void reply_report(httplib::Response& res, const std::vector<TrialRow>& rows,
                  const std::string& format, bool wide, const std::string& title) {
  res.status = 200;
  if (const auto chart = parse_chart_format(format)) {
    res.set_content(render_trials_charts(rows, *chart, title),
                    *chart == ChartFormat::kSvg ? "image/svg+xml" : "text/html; charset=utf-8");
    return;
  }
  const ReportFormat f = *parse_report_format(format);
  const char* type = f == ReportFormat::kJson  ? kJson
                     : f == ReportFormat::kCsv ? "text/csv"
                                               : "text/plain; charset=utf-8";
  res.set_content(render_trials_report(rows, f, wide), type);
}

}  // namespace iolab
