#pragma once

#include <httplib.h>

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/api_error.h"
#include "daemon/api_requests.h"
#include "lab/report.h"
#include "lab/trials.h"

namespace iolab {

inline constexpr size_t kMaxBodyBytes = 1 << 20;
inline constexpr size_t kMaxListLimit = 1000;
inline constexpr const char* kJson = "application/json";

// Request reading: every refusal is an ApiError naming the field.

/// The request's media type, lower case, without parameters.
std::string content_type(const httplib::Request& req);
/// Throws ApiError 415 unless the Content-Type is one of `types`.
void require_content_type(const httplib::Request& req, std::initializer_list<const char*> types);
/// A JSON object body (api_requests.h) with only `allowed` keys, after its Content-Type.
JsonBody json_body(const httplib::Request& req, std::initializer_list<std::string> allowed);
/// The path's id (the route's first group); ApiError 404 naming `what` when it is not one.
int64_t id_param(const httplib::Request& req, const char* what);
/// `?format=` (rst, csv, json, svg or html) and `?wide=`, validated; no other parameters.
std::string format_param(const httplib::Request& req, bool& wide);

// Answers.

/// `body` as JSON with `status`.
void reply(httplib::Response& res, int status, const nlohmann::json& body);
/// The error's status and `{"error":{…}}`.
void reply_error(httplib::Response& res, const ApiError& e);
/// A report of `rows` in `format` (format_param()): the trials table (render_trials_report);
/// svg and html chart each row's trials merged.
void reply_report(httplib::Response& res, const std::vector<TrialRow>& rows,
                  const std::string& format, bool wide, const std::string& title);

}  // namespace iolab
