#include "node/cli/serve_command.h"

#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <map>
#include <vector>

#include "config/listen_address.h"
#include "crypto/x509.h"
#include "node/federation.h"
#include "node/webhook_dispatcher.h"
#include "node/federation_client.h"
#include "crypto/pem_file.h"

#include <filesystem>

#include <boost/json.hpp>
#include "node/https_server.h"
#include "node/case_desk.h"
#include "node/member_api.h"
#include "node/cli/serve_settings.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hashbank {

namespace {

// SIGTERM and SIGINT reach the serve loop through a pipe written by a process-wide handler. (Blocking them and
// calling sigwait is not enough: threads that libraries start before main — OpenBLAS's pool — do not block
// them, and the kernel may deliver the signal there, where the default action ends the process at once.)
int g_signal_pipe[2] = {-1, -1};

extern "C" void OnStopSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &byte, 1);  // async-signal-safe
}

// Installs the handlers; the read end of the pipe yields one byte (the signal number) per signal.
bool InstallStopSignals() {
  if (::pipe2(g_signal_pipe, O_CLOEXEC) != 0) return false;
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  return ::sigaction(SIGTERM, &sa, nullptr) == 0 && ::sigaction(SIGINT, &sa, nullptr) == 0 &&
         ::sigaction(SIGHUP, &sa, nullptr) == 0;
}

// Blocks until SIGTERM, SIGINT or SIGHUP; returns it.
int WaitForSignal() {
  unsigned char byte = 0;
  while (true) {
    const ssize_t n = ::read(g_signal_pipe[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;  // the pipe failed: stop as if asked to
  }
}

// The federation's members, their certificate pins (lowercase) and the peers as the config names them.
// InvalidArgument for a bad member key.
absl::Status FederationMembership(const NodeConfig& config, std::map<std::string, Ed25519PublicKey>* members,
                                  std::vector<FederationPeerOptions>* peers, std::map<std::string, std::string>* pins) {
  for (const FederationMember& m : config.federation.members) {
    auto key = ParsePublicKeyHex(m.public_key_hex);
    if (!key.ok()) return absl::InvalidArgumentError("federation.members: " + m.id + ": " + std::string(key.status().message()));
    (*members)[m.id] = *key;
    if (!m.certificate_sha256.empty()) (*pins)[m.id] = absl::AsciiStrToLower(m.certificate_sha256);
  }
  for (const FederationPeer& p : config.federation.peers) {
    auto pin = pins->find(p.id);
    peers->push_back({p.id, p.host, p.port, p.url, pin == pins->end() ? "" : pin->second});
  }
  return absl::OkStatus();
}

// The parts of a serving node that a reload changes (any may be null but bank, api and cases).
struct RunningNode {
  Bank* bank;
  Federation* federation;
  MemberApi* api;
  CaseDesk* cases;
  WebhookDispatcher* dispatcher;
  HttpsServer* api_server;
  HttpsServer* federation_server;
};

// What SIGHUP does: reads the configuration again and applies what can change in a running node — the
// federation's members, peers and pins, suspensions, the TLS certificate and key of both listeners (new
// connections use them; open ones keep theirs), and the `limits`, `matching`, `webhooks` and `cases`
// sections (requests that start afterwards use them; open connections stay open). A configuration that does
// not load or validate changes nothing. Settings that need a restart are named, and keep their running values
// (RestartOnlySettings). `applied` is the configuration in force, updated when this one is applied.
void Reload(const NodeOverrides& overrides, const NodeConfig& started, NodeConfig* applied, const RunningNode& node,
            std::ostream& out) {
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) {
    out << "hashbank: reload refused, the running configuration stays: " << config.status().message() << std::endl;
    return;
  }
  std::map<std::string, Ed25519PublicKey> members;
  std::vector<FederationPeerOptions> peers;
  std::map<std::string, std::string> pins;
  if (absl::Status s = FederationMembership(*config, &members, &peers, &pins); !s.ok()) {
    out << "hashbank: reload refused, the running configuration stays: " << s.message() << std::endl;
    return;
  }
  if (const std::vector<std::string> restart = RestartOnlySettings(started, *config); !restart.empty()) {
    out << "hashbank: reload: these settings need a restart and keep their running values: " << absl::StrJoin(restart, ", ")
        << std::endl;
  }
  if (node.federation != nullptr && config->FederationEnabled()) {
    for (const std::string& origin : config->federation.suspended) {
      if (!node.bank->IsSuspended(origin)) {
        if (absl::Status s = node.bank->Suspend(origin, config->federation.exclude_suspended_from_matching,
                                                Actor{"config", Role::kAdmin});
            !s.ok()) {
          out << "hashbank: reload: cannot suspend " << origin << ": " << s.message() << std::endl;
        }
      }
    }
    node.federation->Reconfigure(std::move(members), peers, std::move(pins));
    out << "hashbank: reload: federation of " << config->federation.members.size() << " members, "
        << config->federation.peers.size() << " peers" << std::endl;
  }
  bool tls_reloaded = true;
  for (HttpsServer* server : {node.api_server, node.federation_server}) {
    if (server == nullptr) continue;
    if (absl::Status s = server->ReloadTls(); !s.ok()) {
      tls_reloaded = false;
      out << "hashbank: reload: TLS files not reloaded, the running ones stay: " << s.message() << std::endl;
    }
  }
  // The same files, as the client certificate shown to peers (their next request reconnects with it).
  if (tls_reloaded && node.federation != nullptr) node.federation->ReloadClientTls();
  // The quality floor stays the started one (the bank indexed and refused signals by it).
  NodeConfig next = *config;
  next.matching.pdq_quality_floor = started.matching.pdq_quality_floor;
  const std::vector<std::string> sections = ReloadableSections(*applied, next);
  node.api->SetLimits(ApiLimitsFromConfig(next));
  node.cases->SetOptions(CaseOptionsFromConfig(next));
  for (HttpsServer* server : {node.api_server, node.federation_server}) {
    if (server != nullptr) server->SetTimeout(std::chrono::milliseconds(next.limits.request_timeout_ms));
  }
  node.bank->notifications()->SetReloadable(NotificationOptionsFromConfig(next));
  if (node.dispatcher != nullptr) node.dispatcher->SetTimeout(std::chrono::milliseconds(next.webhooks.delivery_timeout_ms));
  *applied = std::move(next);
  out << "hashbank: reload: " << (sections.empty() ? std::string("limits, matching, webhooks and cases unchanged")
                                                   : absl::StrCat(absl::StrJoin(sections, ", "), " applied"))
      << std::endl;
  out << "hashbank: reloaded" << std::endl;
}

}  // namespace

int RunServeCommand(const NodeOverrides& overrides, std::ostream& out, std::ostream& err) {
  if (!InstallStopSignals()) {
    err << "hashbank serve: cannot install the SIGTERM/SIGINT/SIGHUP handlers\n";
    return 1;
  }

  auto fail = [&err](const absl::Status& s) {
    err << "hashbank serve: " << s.message() << '\n';
    return 1;
  };
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) return fail(config.status());
  if (absl::Status s = EnsureDataDir(*config); !s.ok()) return fail(s);
  auto salter = LoadOrCreateSalt(*config, err);
  if (!salter.ok()) return fail(salter.status());
  if (absl::Status s = EnsureTlsFiles(*config, err); !s.ok()) return fail(s);
  auto bank = OpenBank(*config, std::move(*salter));
  if (!bank.ok()) return fail(bank.status());
  // A half-applied salt rotation: serving now would send entries under the new salt to peers on the old one,
  // and leave the rest of this node's signals behind.
  if (auto target = (*bank)->GetStateRow(kSaltRotationTargetRow); !target.ok() || target->has_value()) {
    return fail(target.ok() ? absl::FailedPreconditionError(
                                  "a salt rotation is half applied in this database; run `hashbank salt apply` with "
                                  "the new salt file again to finish it (docs/operators.md)")
                            : target.status());
  }
  if ((*bank)->token_count() == 0) {
    auto token = (*bank)->CreateToken(Role::kAdmin, "admin", Actor{"system", Role::kAdmin});
    if (!token.ok()) return fail(token.status());
    if (absl::Status s = WritePemFile(AdminTokenPath(*config), *token + "\n", 0600); !s.ok()) return fail(s);
  }
  // The image embedding model: a file that does not load stops the start (not the first upload).
  std::unique_ptr<OnnxEmbedder> embedder;
  if (!config->matching.embedding_model.empty()) {
    auto loaded = OnnxEmbedder::Load(config->matching.embedding_model);
    if (!loaded.ok()) {
      return fail(absl::Status(loaded.status().code(),
                               absl::StrCat("matching.embedding_model: ", loaded.status().message())));
    }
    embedder = std::move(*loaded);
    out << "hashbank: embedding model " << embedder->model_id() << " (" << embedder->file_bytes() << " bytes)"
        << ((*bank)->PublishedModel(embedder->model_id())
                ? ""
                : "; its fingerprint is not published yet (POST /v1/models): images get no embedding until it is")
        << std::endl;
  }
  Metrics metrics;
  MemberApi api(bank->get(), ApiLimitsFromConfig(*config), &metrics);
  CaseDesk cases(bank->get(), CaseOptionsFromConfig(*config));
  api.SetCaseDesk(&cases);
  api.SetEmbedder(embedder.get());
  auto listen = ParseListenAddress(config->api.listen);
  if (!listen.ok()) return fail(listen.status());
  HttpsServerOptions options;
  options.host = listen->host;
  options.port = listen->port;
  options.cert_path = config->TlsCertPath();
  options.key_path = config->TlsKeyPath();
  options.io_threads = static_cast<int>(config->api.threads);
  options.worker_threads = static_cast<int>(config->api.threads);
  options.max_json_body_bytes = config->limits.max_json_body_bytes;
  options.body_limit = [&api](std::string_view method, std::string_view target) { return api.BodyLimit(method, target); };
  options.run_inline = MemberApiRunsInline;  // health and metrics never queue behind image hashing
  options.timeout = std::chrono::milliseconds(config->limits.request_timeout_ms);
  // Federation: the mTLS listener, one sync loop per peer, suspensions from the config.
  std::unique_ptr<Federation> federation;
  std::unique_ptr<HttpsServer> federation_server;
  if (config->FederationEnabled()) {
    FederationOptions fo;
    if (absl::Status s = FederationMembership(*config, &fo.members, &fo.peers, &fo.certificate_pins); !s.ok()) return fail(s);
    fo.sync_interval = std::chrono::milliseconds(config->federation.sync_interval_ms);
    fo.max_segment_entries = config->federation.max_segment_entries;
    fo.client.ca_path = config->FederationCaPath();
    fo.client.cert_path = config->TlsCertPath();
    fo.client.key_path = config->TlsKeyPath();
    for (const std::string& origin : config->federation.suspended) {
      if (!(*bank)->IsSuspended(origin)) {
        if (absl::Status s = (*bank)->Suspend(origin, config->federation.exclude_suspended_from_matching,
                                              Actor{"config", Role::kAdmin});
            !s.ok()) {
          return fail(s);
        }
      }
    }
    federation = std::make_unique<Federation>(bank->get(), std::move(fo));
    if (!config->federation.listen.empty()) {
      auto flisten = ParseListenAddress(config->federation.listen);
      if (!flisten.ok()) return fail(flisten.status());
      HttpsServerOptions fed = options;
      fed.host = flisten->host;
      fed.port = flisten->port;
      fed.client_ca_path = config->FederationCaPath();
      fed.allow_peer = [f = federation.get()](const std::string& id, const std::string& sha256) {
        return f->AllowPeer(id, sha256);
      };
      fed.max_json_body_bytes = 1 << 16;  // peers send no large bodies: the federation's own limit, every route
      fed.body_limit = nullptr;
      fed.run_inline = nullptr;
      auto fs = HttpsServer::Start(fed, [f = federation.get()](const HttpRequest& r) { return f->Handle(r); });
      if (!fs.ok()) return fail(fs.status());
      federation_server = std::move(*fs);
      out << "hashbank: federation listener (mutual TLS) on " << flisten->host << ":" << federation_server->port()
          << ", " << config->federation.members.size() << " members, " << config->federation.peers.size() << " peers"
          << std::endl;
    }
    cases.SetHoldersHook([f = federation.get()](const std::string& origin, uint64_t sequence) {
      return f->PeersHolding(origin, sequence);
    });
    api.SetFederationHooks([f = federation.get()] { return f->StatusJson(); },
                           [f = federation.get()](const auto& gauge) { f->ForEachGauge(gauge); });
    // Before anything is appended: a node restored from an older backup takes back its own log's tail
    // from its peers (or it would sign a second history of the same sizes).
    auto recovery = federation->RecoverOwnLog();
    if (!recovery.ok()) {
      if (federation_server) federation_server->Shutdown(std::chrono::seconds(1));
      return fail(absl::FailedPreconditionError(absl::StrCat("refusing to start: ", recovery.status().message())));
    }
    if (recovery->size_after > recovery->size_before) {
      out << "hashbank: this node's own log was behind its peers (restored from a backup?): recovered entries "
          << recovery->size_before + 1 << " to " << recovery->size_after << " from " << recovery->recovered_from
          << ", verified with this node's key" << std::endl;
    }
    if (recovery->reached.empty() && !config->federation.peers.empty()) {
      out << "hashbank: warning: no peer answered, so this node could not check that its own log is complete; "
             "if it was restored from a backup, stop it until a peer is reachable ("
          << absl::StrJoin(recovery->unreachable, "; ") << ")" << std::endl;
    }
    federation->Start();
  }
  // Webhooks: one dispatcher thread, woken by every durable commit.
  WebhookDispatcher dispatcher((*bank)->notifications(),
                               WebhookDispatcherOptions{.timeout = std::chrono::milliseconds(config->webhooks.delivery_timeout_ms)});
  (*bank)->SetEventListener([&dispatcher] { dispatcher.Wake(); });
  dispatcher.Start();
  // The member API starts last, when every hook it reads is in place.
  auto server = HttpsServer::Start(
      options, [&api](const HttpRequest& r) { return api.Handle(r); },
      [&api](std::string_view m, std::string_view t, std::string_view a) { return api.Precheck(m, t, a); });
  if (!server.ok()) {
    // Nothing may call into the dispatcher or the federation once this returns.
    (*bank)->SetEventListener(nullptr);
    dispatcher.Stop();
    if (federation) federation->Stop();
    if (federation_server) federation_server->Shutdown(std::chrono::seconds(5));
    return fail(server.status());
  }
  // Where the member API really listens (port 0 and --listen included), for CLI commands such as backup.
  (void)WritePemFile((std::filesystem::path(config->node.data_dir) / "api.address").string(),
                     absl::StrCat(listen->host.find(':') != std::string::npos ? "[" + listen->host + "]" : listen->host,
                                  ":", (*server)->port(), "\n"),
                     0644);
  // The admin token is shown once, after the first start that really serves: a start that fails (the port in
  // use) shows nothing, and the next one still shows it. "admin.token.shown" records that it was shown.
  const std::string shown_marker = AdminTokenPath(*config) + ".shown";
  if (std::error_code ec; !std::filesystem::exists(shown_marker, ec)) {
    if (auto token = ReadTextFile(AdminTokenPath(*config), 4096); token.ok()) {
      out << "hashbank: admin token (shown once; also in " << AdminTokenPath(*config) << ", mode 0600):\n"
          << *token << (token->empty() || token->back() != '\n' ? "\n" : "");
      (void)WritePemFile(shown_marker, "the admin token in admin.token was shown at a start\n", 0600);
    }
  }
  const BankStats stats = (*bank)->Stats();
  out << "hashbank: node " << config->node.id << " serving https://"
      << (listen->host.find(':') != std::string::npos ? "[" + listen->host + "]" : listen->host) << ":"
      << (*server)->port() << " (" << stats.signals << " signals, indexes rebuilt in " << stats.rebuild_seconds
      << " s, data in " << config->node.data_dir << ")" << std::endl;
  int received = 0;
  NodeConfig applied = *config;
  const RunningNode running{bank->get(), federation.get(), &api, &cases, &dispatcher, server->get(), federation_server.get()};
  while ((received = WaitForSignal()) == SIGHUP) {
    out << "hashbank: SIGHUP, reloading the configuration" << std::endl;
    Reload(overrides, *config, &applied, running, out);
  }
  out << "hashbank: " << (received == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining in-flight requests" << std::endl;
  if (federation) federation->Stop();
  if (federation_server) federation_server->Shutdown(std::chrono::seconds(5));
  (*server)->Shutdown(std::chrono::seconds(10));
  (*bank)->SetEventListener(nullptr);
  dispatcher.Stop();
  out << "hashbank: stopped" << std::endl;
  return 0;
}

int RunTokenCreateCommand(const NodeOverrides& overrides, const std::string& role, const std::string& name,
                          std::ostream& out, std::ostream& err) {
  auto fail = [&err](const absl::Status& s) {
    err << "hashbank token create: " << s.message() << '\n';
    return 1;
  };
  const auto parsed = ParseRole(role);
  if (!parsed) return fail(absl::InvalidArgumentError("--role: submit, query or admin"));
  auto bank = OpenStoppedNode(overrides, "an admin makes tokens with POST /v1/tokens", err);
  if (!bank.ok()) return fail(bank.status());
  auto token = (*bank)->CreateToken(*parsed, name, Actor{"cli", Role::kAdmin});
  if (!token.ok()) return fail(token.status());
  out << *token << '\n';
  return 0;
}

int RunBackupCommand(const NodeOverrides& overrides, const std::string& dir, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const absl::Status& s) {
    err << "hashbank backup: " << s.message() << '\n';
    return 1;
  };
  auto bank = OpenStoppedNode(overrides, "back it up with POST /v1/backup", err);
  if (bank.ok()) {
    if (absl::Status s = (*bank)->Backup(dir); !s.ok()) return fail(s);
    out << "hashbank: checkpoint written to " << dir << '\n';
    return 0;
  }
  if (!absl::IsFailedPrecondition(bank.status())) return fail(bank.status());
  // The node is running (its database is locked): ask it, over its member API, with the admin token and
  // the CA from its data directory. RocksDB's checkpoint is consistent while the node serves.
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) return fail(config.status());
  auto client = RunningNodeClient(*config, std::chrono::minutes(10));
  if (!client.ok()) return fail(client.status());
  boost::json::object body;
  body["dir"] = std::filesystem::absolute(dir).string();
  auto answer = (*client)->Post("/v1/backup", boost::json::serialize(body));
  if (!answer.ok()) return fail(answer.status());
  out << "hashbank: the running node wrote a checkpoint to " << std::filesystem::absolute(dir).string() << '\n';
  return 0;
}

}  // namespace hashbank
