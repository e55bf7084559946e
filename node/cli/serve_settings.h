// serve_settings: what a serving node takes from its configuration, at start and at a reload (SIGHUP).
//
// ApiLimitsFromConfig and CaseOptionsFromConfig translate the `limits`, `matching` and `cases` sections into
// the member API's and the case desk's options (one place, so a start and a reload agree). RestartOnlySettings
// names the settings a running node cannot take without a restart, when they differ between the
// configuration it started with and a new one; ReloadableSections names the sections a reload changes.
// Pure functions of their arguments; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "config/node_config.h"
#include "node/case_desk.h"
#include "node/member_api.h"

namespace hashbank {

ApiLimits ApiLimitsFromConfig(const NodeConfig& config);
// now_ms unset (the system clock).
CaseOptions CaseOptionsFromConfig(const NodeConfig& config);

// Settings (as dotted names, in the file's order) whose new value differs from the running one and needs a
// restart: node.id and data_dir, the listeners, api.threads, the TLS file paths, the federation's timing and
// whether it runs, matching.pdq_quality_floor (the bank indexes and refuses signals by it at start) and
// matching.embedding_model (the model is loaded once, at start).
std::vector<std::string> RestartOnlySettings(const NodeConfig& running, const NodeConfig& next);

// Which of the sections a reload applies differ: "limits", "matching", "webhooks", "cases".
std::vector<std::string> ReloadableSections(const NodeConfig& running, const NodeConfig& next);

}  // namespace hashbank
