// A federation of real nodes in one process, on loopback: three nodes in a chain A <-> B <-> C, each assembled
// as `hashbank serve` assembles it (Bank, MemberApi behind an HttpsServer, a mutual-TLS federation listener
// and a Federation), with certificates from one test CA and one shared federation salt.
//
// - What A's members do reaches C through B: a signal, its withdrawal (purged from C's files), an opinion
//   back from C to A, a model fingerprint; GET /v1/federation/status reports the converged state.
// - A malicious member M (a valid certificate, a hand-made listener) serves crafted logs to a fresh node X:
//   a tampered entry, a bad signature, a rollback, a fork, an unknown origin — each refused whole and reported.
// - The federation listener refuses every client but a member's: no certificate, another CA's, an expired
//   one, a non-member's, TLS 1.2.
// - C torn down in the middle of a large sync resumes where it stopped, with nothing missing or doubled; so
//   does a real `hashbank serve` node-c (configured by `hashbank ca init` / `node init`) killed with SIGKILL.
// - Federation::Stop during a large sync does not first fetch the rest of the log.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "crypto/federation_salt.h"
#include "crypto/pem_file.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "crypto/x509.h"
#include "hashing/hash256.h"
#include "node/bank.h"
#include "node/federation.h"
#include "node/salt_rotation.h"
#include "node/https_server.h"
#include "node/case_desk.h"
#include "node/member_api.h"
#include "node/metrics.h"
#include "node/webhook_dispatcher.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"
#include "tests/support/browser_script.h"
#include "tests/support/test_data.h"
#include "tests/support/hand_log.h"
#include "tests/support/https_client.h"
#include "tests/support/photo_edits.h"
#include "tests/support/node_process.h"
#include "tests/support/video_clips.h"
#include "tests/support/webhook_receiver.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace pb = ::hashbank::protocol;
using ::hashbank::testing::ExitCode;
using ::hashbank::testing::HandLog;
using ::hashbank::testing::HttpsClient;
using ::hashbank::testing::HttpsClientOptions;
using ::hashbank::testing::Response;
using ::hashbank::testing::NodeProcess;
using ::hashbank::testing::TlsMode;
using namespace std::chrono_literals;

constexpr auto kDeadline = 15s;
constexpr char kModelId[] = "5f2b8c1e9d3a47b6a0c4e8f1d2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";

// Polls `condition` (every 20 ms) until it holds or `limit` passes; the last answer.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(20ms);
  }
}

std::string MakeTempDir(const std::string& name) {
  std::string tmpl = (fs::temp_directory_path() / ("hashbank-fed-" + name + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (uint64_t& limb : h.limbs) limb = rng();
  return h;
}

// The 32 bytes a node stores for `raw` (node/bank.cc PdqBytes of the salted hash): bit k is bit k % 8 of
// byte k / 8, i.e. the limbs little-endian.
std::string SaltedPdqBytes(const Salter& salter, const Hash256& raw) {
  const PdqLimbs salted = salter.SaltPdq(raw.limbs);
  std::string out(32, '\0');
  for (size_t i = 0; i < 32; ++i) out[i] = static_cast<char>((salted[i / 8] >> (8 * (i % 8))) & 0xFF);
  return out;
}

// Every regular file under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}

uint64_t TrustedSize(const Bank& bank, const std::string& origin) {
  auto cp = bank.LatestCheckpoint(origin);
  if (!cp.ok() || !cp->has_value()) return 0;
  return (*cp)->tree_size;
}

std::optional<CheckpointView> Latest(const Bank& bank, const std::string& origin) {
  auto cp = bank.LatestCheckpoint(origin);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? *cp : std::nullopt;
}

json::value ParseJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    ADD_FAILURE() << "not JSON: " << text;
    return json::object{};
  }
  return v;
}

// The entry of `origin` in a federation status JSON's "origins", or null.
json::value OriginStatus(const std::string& status_json, const std::string& origin) {
  const json::value v = ParseJson(status_json);
  if (!v.is_object() || !v.as_object().contains("origins")) return nullptr;
  for (const json::value& o : v.at("origins").as_array()) {
    if (o.at("origin") == json::value(origin)) return o;
  }
  return nullptr;
}

std::string LastError(const json::value& origin_status) {
  if (!origin_status.is_object() || !origin_status.as_object().contains("last_error")) return "";
  return std::string(origin_status.at("last_error").as_string());
}

// --- Certificates -----------------------------------------------------------------------------------------

struct CertOptions {
  bool server_auth = true;
  bool client_auth = true;
  std::chrono::seconds validity = std::chrono::days(30);
  std::chrono::seconds not_before_skew = std::chrono::minutes(5);
};

absl::StatusOr<KeyAndCertificate> IssueNodeCertificate(const KeyAndCertificate& ca, const std::string& node_id,
                                                       CertOptions o = {}) {
  CertificateRequest r;
  r.common_name = node_id;
  r.dns_names = {"localhost"};
  r.ip_addresses = {"127.0.0.1"};
  r.node_id = node_id;
  r.server_auth = o.server_auth;
  r.client_auth = o.client_auth;
  r.validity = o.validity;
  r.not_before_skew = o.not_before_skew;
  return IssueCertificate(ca, r);
}

// <dir>/tls/server.pem, server.key and ca.pem.
absl::Status WriteTlsFiles(const std::string& dir, const KeyAndCertificate& ca, const KeyAndCertificate& cert) {
  std::error_code ec;
  fs::create_directories(dir + "/tls", ec);
  if (ec) return absl::InternalError("cannot create " + dir + "/tls");
  if (absl::Status s = WritePemFile(dir + "/tls/server.pem", cert.cert_pem, 0644); !s.ok()) return s;
  if (absl::Status s = WritePemFile(dir + "/tls/server.key", cert.key_pem, 0600); !s.ok()) return s;
  return WritePemFile(dir + "/tls/ca.pem", ca.cert_pem, 0644);
}

std::shared_ptr<const SigningKey> NewSigningKey() {
  auto key = SigningKey::Generate();
  EXPECT_TRUE(key.ok()) << key.status();
  return std::make_shared<const SigningKey>(std::move(*key));
}

// --- One node ---------------------------------------------------------------------------------------------

constexpr uint32_t kCasePinAttempts = 3;

struct NodeTuning {
  std::chrono::milliseconds sync_interval = 300ms;
  uint64_t max_segment_entries = 10000;
};

// Everything of one node. The federation listener and the member API reach the Federation through `fed_mu`,
// so the Federation can be made after every listener's port is known, and replaced on a restart.
struct Node {
  std::string id, dir;
  std::shared_ptr<const SigningKey> key;
  std::unique_ptr<Bank> bank;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<MemberApi> api;
  std::unique_ptr<CaseDesk> cases;  // public submission on (the browser case flow)
  std::unique_ptr<HttpsServer> api_server;
  std::unique_ptr<HttpsServer> fed_server;
  uint16_t fed_port = 0;
  std::shared_mutex fed_mu;
  std::unique_ptr<Federation> federation;  // guarded by fed_mu
  // Test hook on the federation listener: an answer instead of the Federation's. Set before the listener.
  std::function<std::optional<HttpResponse>(const HttpRequest&)> fed_hook;
  std::unique_ptr<HttpsClient> client;  // to the member API
  std::string admin_token, submit_token, query_token;
  std::optional<FederationSalt> salt;  // set: this node's own salt instead of the federation's
  KeepAtOrigin keep;                   // federation.keep_at_origin

  std::string Path(const std::string& name) const { return dir + "/tls/" + name; }
};

std::string CheckpointList(const std::vector<std::string>& signed_checkpoints) {
  pb::CheckpointList list;
  for (const std::string& sc : signed_checkpoints) EXPECT_TRUE(list.add_checkpoints()->ParseFromString(sc));
  return list.SerializeAsString();
}

std::string QueryParam(const std::string& target, const std::string& name) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == name) return std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return "";
}

HttpResponse Protobuf(std::string body) {
  HttpResponse r;
  r.content_type = "application/x-protobuf";
  r.body = std::move(body);
  return r;
}

HttpResponse Answer(int status) {
  HttpResponse r;
  r.status = status;
  if (status != 204) r.body = ErrorBody("test", "refused by the test");
  return r;
}

// --- The fixture base: PKI, salt, node assembly -------------------------------------------------------------

class FederationFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir("root");
    ASSERT_FALSE(root_.empty());
    auto ca = CreateCertificateAuthority("hashbank test federation CA", std::chrono::days(30));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    ca_path_ = root_ + "/ca.pem";
    ASSERT_TRUE(WritePemFile(ca_path_, ca_.cert_pem, 0644).ok());
    auto salt = FederationSalt::Generate("test-salt");
    ASSERT_TRUE(salt.ok()) << salt.status();
    salt_ = *salt;
    salter_ = std::make_unique<Salter>(salt_);
  }

  void TearDown() override {
    for (auto& [id, n] : nodes_) {
      std::shared_lock lock(n->fed_mu);
      if (n->federation) n->federation->Stop();
    }
    for (auto& [id, n] : nodes_) StopNode(*n);
    nodes_.clear();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A node's directory, certificate and signing key; nothing started.
  Node& AddNode(const std::string& id) {
    auto n = std::make_unique<Node>();
    n->id = id;
    n->dir = root_ + "/" + id;
    fs::create_directories(n->dir);
    n->key = NewSigningKey();
    auto cert = IssueNodeCertificate(ca_, id);
    EXPECT_TRUE(cert.ok()) << cert.status();
    if (cert.ok()) {
      EXPECT_TRUE(WriteTlsFiles(n->dir, ca_, *cert).ok());
    }
    Node& ref = *n;
    nodes_[id] = std::move(n);
    return ref;
  }

  // Bank, member API and federation listener (on n.fed_port, 0 the first time); the Federation comes later.
  void StartNode(Node& n) {
    BankOptions bo;
    bo.data_dir = n.dir;
    bo.node_id = n.id;
    bo.signing_key = n.key;
    bo.keep_at_origin = n.keep;
    auto bank = Bank::Open(bo, std::make_unique<Salter>(n.salt ? *n.salt : salt_));
    ASSERT_TRUE(bank.ok()) << bank.status();
    n.bank = std::move(*bank);
    if (n.admin_token.empty()) {
      const Actor system{"system", Role::kAdmin};
      auto admin = n.bank->CreateToken(Role::kAdmin, "admin", system);
      auto submit = n.bank->CreateToken(Role::kSubmit, "submitter", system);
      auto query = n.bank->CreateToken(Role::kQuery, "querier", system);
      ASSERT_TRUE(admin.ok() && submit.ok() && query.ok());
      n.admin_token = *admin;
      n.submit_token = *submit;
      n.query_token = *query;
    }
    n.metrics = std::make_unique<Metrics>();
    n.api = std::make_unique<MemberApi>(n.bank.get(), ApiLimits{}, n.metrics.get());
    Node* np = &n;
    n.cases = std::make_unique<CaseDesk>(n.bank.get(), CaseOptions{.public_submission = true,
                                                                   .per_ip_per_hour = 5,
                                                                   .global_per_hour = 100,
                                                                   .daily_cap = 500,
                                                                   .max_hashes = 50,
                                                                   .pin_attempts = kCasePinAttempts,
                                                                   .lockout_minutes = 15,
                                                                   .lookups_per_ip_per_hour = 1000,
                                                                   .max_message_bytes = 2000,
                                                                   .now_ms = nullptr});
    n.cases->SetHoldersHook([np](const std::string& origin, uint64_t sequence) {
      std::shared_lock lock(np->fed_mu);
      return np->federation ? np->federation->PeersHolding(origin, sequence) : 0;
    });
    n.api->SetCaseDesk(n.cases.get());
    // As serve wires it, through the current Federation of the node.
    n.api->SetFederationHooks(
        [np] {
          std::shared_lock lock(np->fed_mu);
          return np->federation ? np->federation->StatusJson() : std::string("{}");
        },
        [np](const std::function<void(std::string_view, std::string_view, double)>& gauge) {
          std::shared_lock lock(np->fed_mu);
          if (np->federation) np->federation->ForEachGauge(gauge);
        });
    HttpsServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.cert_path = n.Path("server.pem");
    options.key_path = n.Path("server.key");
    options.io_threads = 1;
    options.worker_threads = 2;
    options.timeout = 10s;
    MemberApi* api = n.api.get();
    auto server = HttpsServer::Start(
        options, [api](const HttpRequest& r) { return api->Handle(r); },
        [api](std::string_view m, std::string_view t, std::string_view a) { return api->Precheck(m, t, a); });
    ASSERT_TRUE(server.ok()) << server.status();
    n.api_server = std::move(*server);
    n.client = std::make_unique<HttpsClient>("127.0.0.1", n.api_server->port(), ca_path_);

    HttpsServerOptions fed = options;
    fed.port = n.fed_port;
    fed.client_ca_path = n.Path("ca.pem");
    fed.max_json_body_bytes = 1 << 16;
    fed.allow_peer = [np](const std::string& id, const std::string& sha256) {
      std::shared_lock lock(np->fed_mu);
      return np->federation != nullptr && np->federation->AllowPeer(id, sha256);
    };
    auto fs_ = HttpsServer::Start(fed, [np](const HttpRequest& r) {
      if (np->fed_hook) {
        if (auto early = np->fed_hook(r)) return *early;
      }
      std::shared_lock lock(np->fed_mu);
      if (!np->federation) return Answer(503);
      return np->federation->Handle(r);
    });
    ASSERT_TRUE(fs_.ok()) << fs_.status();
    n.fed_server = std::move(*fs_);
    n.fed_port = n.fed_server->port();
  }

  // Makes and starts n's Federation: every node added is a member; `peers` are pulled from.
  void StartFederation(Node& n, const std::vector<std::string>& peers, NodeTuning tuning = {}) {
    FederationOptions fo;
    for (const auto& [id, other] : nodes_) fo.members[id] = other->key->public_key();
    for (const auto& [id, key] : extra_members_) fo.members[id] = key;
    for (const std::string& p : peers) {
      const Node& other = *nodes_.at(p);
      fo.peers.push_back({p, "localhost", other.fed_port, absl::StrCat("https://localhost:", other.fed_port), ""});
    }
    fo.sync_interval = tuning.sync_interval;
    fo.max_segment_entries = tuning.max_segment_entries;
    fo.client.ca_path = n.Path("ca.pem");
    fo.client.cert_path = n.Path("server.pem");
    fo.client.key_path = n.Path("server.key");
    fo.client.timeout = 10s;
    Federation* f = nullptr;
    {
      std::unique_lock lock(n.fed_mu);
      n.federation = std::make_unique<Federation>(n.bank.get(), std::move(fo));
      f = n.federation.get();
    }
    f->Start();
  }

  // Tears the node down (its data stays): Federation stopped first, then the listeners, then the rest.
  void StopNode(Node& n) {
    {
      std::shared_lock lock(n.fed_mu);
      if (n.federation) n.federation->Stop();
    }
    n.client.reset();
    if (n.api_server) n.api_server->Shutdown(5s);
    if (n.fed_server) n.fed_server->Shutdown(5s);
    {
      std::unique_lock lock(n.fed_mu);
      n.federation.reset();
    }
    n.api_server.reset();
    n.fed_server.reset();
    n.api.reset();
    n.metrics.reset();
    n.bank.reset();
  }

  Node& node(const std::string& id) { return *nodes_.at(id); }

  std::string FederationStatus(Node& n) {
    std::shared_lock lock(n.fed_mu);
    return n.federation ? n.federation->StatusJson() : "{}";
  }

  // --- The member API over HTTPS ---

  Response Call(Node& n, const std::string& method, const std::string& target, const std::string& token,
                const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (method == "POST" || method == "PUT") headers["Content-Type"] = "application/json";
    auto r = n.client->Request(method, target, body, headers);
    if (!r.ok()) {
      ADD_FAILURE() << n.id << ": " << method << " " << target << ": " << r.status();
      return Response{};
    }
    return *r;
  }

  // POST /v1/signals with a PDQ hash; the id of the 201 answer.
  std::string SubmitPdq(Node& n, const Hash256& pdq) {
    const json::object signal{{"pdq", pdq.ToHex()}, {"quality", 100}, {"labels", json::array{"ndii"}}};
    const Response r = Call(n, "POST", "/v1/signals", n.submit_token, json::serialize(signal));
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return "";
    return std::string(ParseJson(r.body).at("id").as_string());
  }

  // POST /v1/match by PDQ; the ids matched.
  std::vector<std::string> MatchIds(Node& n, const Hash256& pdq) {
    const Response r = Call(n, "POST", "/v1/match", n.query_token, json::serialize(json::object{{"pdq", pdq.ToHex()}}));
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> ids;
    if (r.status != 200) return ids;
    const json::value body = ParseJson(r.body);
    for (const json::value& m : body.at("matches").as_array()) ids.emplace_back(m.at("id").as_string());
    return ids;
  }

  std::string root_;
  KeyAndCertificate ca_;
  std::string ca_path_;
  FederationSalt salt_;
  std::unique_ptr<Salter> salter_;  // the test's own, to compute salted bytes
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::map<std::string, Ed25519PublicKey> extra_members_;  // members that are not nodes of nodes_
  std::mt19937_64 rng_{20240711};
};

// =============================================================================================================
// Three nodes in a chain.

class FederationTest : public FederationFixture {
 protected:
  void SetUp() override {
    FederationFixture::SetUp();
    for (const char* id : {"node-a", "node-b", "node-c"}) AddNode(id);
  }

  // All three nodes up (every listener first, so each Federation knows its peers' ports), then federated.
  void StartChain(NodeTuning tuning = {}, bool start_c_federation = true) {
    for (const char* id : {"node-a", "node-b", "node-c"}) ASSERT_NO_FATAL_FAILURE(StartNode(node(id)));
    StartFederation(A(), {"node-b"}, tuning);
    StartFederation(B(), {"node-a", "node-c"}, tuning);
    if (start_c_federation) StartFederation(C(), {"node-b"}, tuning);
  }

  Node& A() { return node("node-a"); }
  Node& B() { return node("node-b"); }
  Node& C() { return node("node-c"); }

  // Salt rotation of one node of the chain, as `hashbank salt apply` does it: stopped, its own signals
  // re-published under `next` (ApplySaltRotation on a Bank open on the fixture's salt), then started on `next`
  // and federated again. The number of signals it re-published.
  uint64_t RotateNode(Node& n, const FederationSalt& next, const Salter& next_salter) {
    static const std::map<std::string, std::vector<std::string>> kPeers = {
        {"node-a", {"node-b"}}, {"node-b", {"node-a", "node-c"}}, {"node-c", {"node-b"}}};
    StopNode(n);
    BankOptions bo;
    bo.data_dir = n.dir;
    bo.node_id = n.id;
    bo.signing_key = n.key;
    uint64_t republished = 0;
    {
      auto bank = Bank::Open(bo, std::make_unique<Salter>(salt_));
      EXPECT_TRUE(bank.ok()) << bank.status();
      if (!bank.ok()) return 0;
      auto report = ApplySaltRotation(bank->get(), *salter_, next_salter);
      EXPECT_TRUE(report.ok()) << report.status();
      if (!report.ok()) return 0;
      EXPECT_TRUE(report->local_state_done);
      republished = report->republished;
    }
    {
      auto again = Bank::Open(bo, std::make_unique<Salter>(salt_));
      EXPECT_FALSE(again.ok()) << "the database records the new salt";
      if (!again.ok()) {
        EXPECT_NE(again.status().message().find(next.id), std::string_view::npos) << again.status();
      }
    }
    n.salt = next;
    StartNode(n);
    StartFederation(n, kPeers.at(n.id), {.sync_interval = 100ms});
    return republished;
  }

  // Every node holds every origin's log at the origin's own size.
  bool Converged() {
    for (Node* origin : {&A(), &B(), &C()}) {
      const uint64_t size = TrustedSize(*origin->bank, origin->id);
      for (Node* n : {&A(), &B(), &C()}) {
        if (TrustedSize(*n->bank, origin->id) != size) return false;
      }
    }
    return true;
  }
};

TEST_F(FederationTest, SignalAtAMatchesAtCAndItsWithdrawalPurgesItFromCsFiles) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  const Hash256 pdq = RandomHash(rng_);
  const Hash256 other = RandomHash(rng_);
  const std::string id = SubmitPdq(A(), pdq);
  ASSERT_EQ(id, "node-a:1");
  ASSERT_EQ(SubmitPdq(A(), other), "node-a:2");  // stays: the purge must not be a wipe

  // A and C are not connected: the signal travels through B.
  std::vector<std::string> at_c;
  ASSERT_TRUE(Eventually([&] {
    at_c = MatchIds(C(), pdq);
    return !at_c.empty();
  })) << "node-a:1 never matched at node-c";
  EXPECT_EQ(at_c, std::vector<std::string>{"node-a:1"});
  EXPECT_EQ(MatchIds(B(), pdq), std::vector<std::string>{"node-a:1"});
  ASSERT_TRUE(Eventually([&] { return MatchIds(C(), other) == std::vector<std::string>{"node-a:2"}; }));

  // Positive control: compacted, C's table files hold the salted bytes.
  const std::string salted = SaltedPdqBytes(*salter_, pdq);
  ASSERT_TRUE(C().bank->Compact().ok());
  EXPECT_FALSE(FilesContaining(C().dir + "/db", salted).empty());

  const Response withdrawn = Call(A(), "DELETE", "/v1/signals/node-a:1", A().submit_token);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_TRUE(MatchIds(A(), pdq).empty());
  ASSERT_TRUE(Eventually([&] { return MatchIds(C(), pdq).empty(); })) << "node-a:1 still matches at node-c";

  const Response got = Call(C(), "GET", "/v1/signals/node-a:1", C().query_token);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(ParseJson(got.body).at("withdrawn"), true) << got.body;
  auto info = C().bank->Get(SignalRef{"node-a", 1});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->withdrawn);
  EXPECT_TRUE(info->signal_types.empty());

  ASSERT_TRUE(C().bank->Compact().ok());
  EXPECT_EQ(FilesContaining(C().dir + "/db", salted), std::vector<std::string>{});
  EXPECT_FALSE(FilesContaining(C().dir + "/db", SaltedPdqBytes(*salter_, other)).empty());
  EXPECT_EQ(MatchIds(C(), other), std::vector<std::string>{"node-a:2"});
  std::ostringstream report;
  EXPECT_TRUE(C().bank->VerifyStoredLogs(report).ok()) << report.str();
}

TEST_F(FederationTest, RobustFingerprintSubmittedAtAMatchesAnEditedCopyAtCUntilWithdrawn) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  const testing::RgbPhoto photo = testing::LoadRgbPhoto("pdq-reference/images/reg-test-input/pen-and-coaster.png");
  const Response submitted = Call(A(), "POST", "/v1/signals/image?labels=ndii", A().submit_token, testing::JpegString(photo, 92));
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const auto answer = ParseJson(submitted.body);
  const std::string id(answer.at("id").as_string());
  bool has_robust = false;
  for (const auto& t : answer.at("signal_types").as_array()) has_robust |= t.as_string() == "robust";
  ASSERT_TRUE(has_robust) << submitted.body;

  // 30 % of the area cropped away unevenly, mirrored, re-encoded: PDQ cannot catch this, the robust type must.
  const std::string edited = testing::JpegString(testing::CropMirror(photo, 90, 20, 500, 400, true), 70);
  auto robust_ids = [&](Node& n) {
    std::vector<std::string> ids;
    const Response r = Call(n, "POST", "/v1/match/image", n.query_token, edited);
    if (r.status != 200) return ids;
    const auto body = ParseJson(r.body);
    for (const auto& m : body.at("matches").as_array()) {
      if (m.at("signal_type") == "robust") {
        ids.emplace_back(m.at("id").as_string());
        EXPECT_EQ(m.at("mirrored"), true) << r.body;
      }
    }
    return ids;
  };
  ASSERT_TRUE(Eventually([&] { return robust_ids(C()) == std::vector<std::string>{id}; }))
      << "the edited copy never matched the robust fingerprint at node-c";
  const Response at_c = Call(C(), "POST", "/v1/match/image", C().query_token, edited);
  const auto at_c_body = ParseJson(at_c.body);
  for (const auto& m : at_c_body.at("matches").as_array()) {
    EXPECT_EQ(m.at("signal_type"), "robust") << "only the robust type can catch this edit: " << at_c.body;
  }
  const Response info = Call(C(), "GET", "/v1/signals/" + id, C().query_token);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_NE(info.body.find("\"robust\""), std::string::npos) << info.body;

  const Response withdrawn = Call(A(), "DELETE", "/v1/signals/" + id, A().submit_token);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  ASSERT_TRUE(Eventually([&] { return robust_ids(C()).empty(); })) << "still matches at node-c after withdrawal";
  EXPECT_TRUE(robust_ids(B()).empty());
  auto stored = C().bank->Get(SignalRef{"node-a", 1});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->withdrawn);
  EXPECT_TRUE(stored->signal_types.empty());
}

// federation.keep_at_origin: [robust] at A. The image's robust fingerprint stays at A: an edited copy is caught
// at A (also after a restart, from the kept row), never at C, where the same signal arrives with its other
// fingerprints only and the exact image still matches. The withdrawal purges the kept row too.
TEST_F(FederationTest, ARobustFingerprintKeptAtTheOriginMatchesThereOnlyAndLeavesWithTheWithdrawal) {
  A().keep.robust = true;
  ASSERT_NO_FATAL_FAILURE(StartChain());
  const testing::RgbPhoto photo = testing::LoadRgbPhoto("pdq-reference/images/reg-test-input/pen-and-coaster.png");
  const std::string original = testing::JpegString(photo, 92);
  const Response submitted = Call(A(), "POST", "/v1/signals/image?labels=ndii", A().submit_token, original);
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string id(ParseJson(submitted.body).at("id").as_string());
  EXPECT_NE(submitted.body.find("\"robust\""), std::string::npos) << "banked at A: " << submitted.body;

  const std::string edited = testing::JpegString(testing::CropMirror(photo, 90, 20, 500, 400, true), 70);
  // The ids each match type gives for `body` at node n.
  auto ids_of = [&](Node& n, const std::string& body, const char* type) {
    std::vector<std::string> ids;
    const Response r = Call(n, "POST", "/v1/match/image", n.query_token, body);
    EXPECT_EQ(r.status, 200) << n.id << ": " << r.body;
    if (r.status != 200) return ids;
    const auto answer = ParseJson(r.body);
    for (const auto& m : answer.at("matches").as_array()) {
      if (m.at("signal_type") == type) ids.emplace_back(m.at("id").as_string());
    }
    return ids;
  };
  EXPECT_EQ(ids_of(A(), edited, "robust"), std::vector<std::string>{id}) << "the origin matches the edit";
  const Response at_a = Call(A(), "GET", "/v1/signals/" + id, A().query_token);
  ASSERT_EQ(at_a.status, 200) << at_a.body;
  const auto at_a_body = ParseJson(at_a.body);
  EXPECT_EQ(at_a_body.at("kept_at_origin"), json::value(json::array{"robust"})) << at_a.body;
  EXPECT_NE(at_a.body.find("\"robust\""), std::string::npos) << at_a.body;

  // C holds the signal (the exact image matches by MD5 there) but not its robust fingerprint.
  ASSERT_TRUE(Eventually([&] { return ids_of(C(), original, "md5") == std::vector<std::string>{id}; }))
      << "the signal never reached node-c";
  EXPECT_TRUE(ids_of(C(), edited, "robust").empty()) << "the kept fingerprint left node-a";
  EXPECT_EQ(C().bank->Stats().robust, 0u);
  EXPECT_EQ(B().bank->Stats().robust, 0u);
  const Response at_c = Call(C(), "GET", "/v1/signals/" + id, C().query_token);
  ASSERT_EQ(at_c.status, 200) << at_c.body;
  EXPECT_EQ(at_c.body.find("\"robust\""), std::string::npos) << at_c.body;
  EXPECT_EQ(at_c.body.find("kept_at_origin"), std::string::npos) << at_c.body;
  // What A serves its members: the entry as signed, without the robust field.
  auto segment = A().bank->ExportSegment("node-a", 0, 100);
  ASSERT_TRUE(segment.ok()) << segment.status();
  pb::LogSegment parsed;
  ASSERT_TRUE(parsed.ParseFromString(*segment));
  ASSERT_GE(parsed.leaves_size(), 1);
  pb::Entry entry;
  ASSERT_TRUE(entry.ParseFromString(parsed.leaves(0).entry()));
  ASSERT_TRUE(entry.has_signal());
  EXPECT_TRUE(entry.signal().robust().empty());
  EXPECT_FALSE(entry.signal().md5().empty());

  // A device's JSON with nothing but a robust fingerprint has nothing to share: refused, by name.
  const Response hashed = Call(A(), "POST", "/v1/hash", A().query_token, original);
  ASSERT_EQ(hashed.status, 200) << hashed.body;
  const auto hashes = ParseJson(hashed.body);
  json::object robust_only{{"robust", hashes.at("hashes").at("robust")}};
  const Response refused = Call(A(), "POST", "/v1/signals", A().submit_token, json::serialize(robust_only));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("keep_at_origin"), std::string::npos) << refused.body;

  // A restart rebuilds A's index from the log and the kept row.
  StopNode(A());
  ASSERT_NO_FATAL_FAILURE(StartNode(A()));
  StartFederation(A(), {"node-b"});
  EXPECT_EQ(ids_of(A(), edited, "robust"), std::vector<std::string>{id}) << "after a restart";

  const Response withdrawn = Call(A(), "DELETE", "/v1/signals/" + id, A().submit_token);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_TRUE(ids_of(A(), edited, "robust").empty());
  EXPECT_EQ(A().bank->Stats().robust, 0u);
  std::ostringstream report;
  EXPECT_TRUE(A().bank->VerifyTables(report).ok()) << report.str();
  EXPECT_NE(report.str().find("0 rows of fingerprints kept here"), std::string::npos) << report.str();
  ASSERT_TRUE(Eventually([&] { return ids_of(C(), original, "md5").empty(); })) << "still matches at node-c";
}

// A video (POST /v1/signals/video) at A; at C, a trim of its middle half (re-encoded: another file, so only
// vPDQ can match) finds it through B, until A withdraws it.
TEST_F(FederationTest, VideoSubmittedAtAMatchesATrimmedCopyAtCUntilWithdrawn) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  const std::string& video = testing::VideoClips::Get().Banked();  // 12 s, 320x240
  const std::string& trim = testing::VideoClips::Get().Trim();     // its [3, 9) s
  ASSERT_FALSE(video.empty());
  ASSERT_FALSE(trim.empty());
  const Response submitted = Call(A(), "POST", "/v1/signals/video?labels=ndii", A().submit_token, video);
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const auto answer = ParseJson(submitted.body);
  const std::string id(answer.at("id").as_string());
  EXPECT_EQ(id, "node-a:1");
  bool has_vpdq = false;
  for (const auto& t : answer.at("signal_types").as_array()) has_vpdq |= t.as_string() == "vpdq";
  ASSERT_TRUE(has_vpdq) << submitted.body;

  // The vpdq matches of the trim at node n: (id, target range start).
  auto vpdq_matches = [&](Node& n) {
    std::vector<std::pair<std::string, double>> out;
    const Response r = Call(n, "POST", "/v1/match/video", n.query_token, trim);
    EXPECT_EQ(r.status, 200) << n.id << ": " << r.body;
    if (r.status != 200) return out;
    const auto body = ParseJson(r.body);
    for (const auto& m : body.at("matches").as_array()) {
      EXPECT_EQ(m.at("signal_type"), "vpdq") << "the trim is another file: " << r.body;
      if (m.at("signal_type") == "vpdq") {
        out.emplace_back(std::string(m.at("id").as_string()), m.at("target_range").as_array()[0].to_number<double>());
      }
    }
    return out;
  };
  std::vector<std::pair<std::string, double>> at_c;
  ASSERT_TRUE(Eventually([&] {
    at_c = vpdq_matches(C());
    return !at_c.empty();
  })) << "the trim never matched the video at node-c";
  ASSERT_EQ(at_c.size(), 1u);
  EXPECT_EQ(at_c[0].first, id);
  EXPECT_NEAR(at_c[0].second, 3.0, 1.0) << "the trim starts 3 s into the banked video";
  const Response info = Call(C(), "GET", "/v1/signals/" + id, C().query_token);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_NE(info.body.find("\"vpdq\""), std::string::npos) << info.body;
  EXPECT_EQ(C().bank->Stats().videos, 1u);
  // A cropped copy, which no frame PDQ catches, matches at C through the keyframes that travelled with it.
  const std::string& cropped = testing::VideoClips::Get().Cropped();
  auto robust_matches = [&](Node& n) {
    std::vector<std::string> out;
    const Response r = Call(n, "POST", "/v1/match/video", n.query_token, cropped);
    EXPECT_EQ(r.status, 200) << n.id << ": " << r.body;
    if (r.status != 200) return out;
    const auto body = ParseJson(r.body);
    for (const auto& m : body.at("matches").as_array()) {
      if (m.at("signal_type") == "robust") out.emplace_back(m.at("id").as_string());
    }
    return out;
  };
  EXPECT_EQ(robust_matches(C()), std::vector<std::string>{id});

  const Response withdrawn = Call(A(), "DELETE", "/v1/signals/" + id, A().submit_token);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_TRUE(vpdq_matches(A()).empty());
  ASSERT_TRUE(Eventually([&] { return vpdq_matches(C()).empty(); })) << "still matches at node-c after withdrawal";
  EXPECT_TRUE(robust_matches(C()).empty()) << "the keyframes stay at node-c after withdrawal";
  EXPECT_TRUE(vpdq_matches(B()).empty());
  EXPECT_EQ(C().bank->Stats().videos, 0u);
  EXPECT_EQ(C().bank->Stats().video_frames, 0u);
  auto stored = C().bank->Get(SignalRef{"node-a", 1});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->withdrawn);
  EXPECT_TRUE(stored->signal_types.empty());
}

// A platform at C watches its upload; the victim's hash is banked at A afterwards; C's webhook tells the
// platform, tells it when A edits the signal's labels (a signed entry relayed by B), and tells it again when
// the victim withdraws at A.
TEST_F(FederationTest, HashBankedAtAAfterAnUploadWatchedAtCIsDeliveredByCsWebhookAndSoAreItsRelabelAndWithdrawal) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  testing::WebhookReceiver receiver;
  WebhookDispatcher dispatcher(C().bank->notifications(), WebhookDispatcherOptions{});
  C().bank->SetEventListener([&dispatcher] { dispatcher.Wake(); });
  dispatcher.Start();
  const Response hook = Call(C(), "POST", "/v1/webhooks", C().admin_token,
                             absl::StrCat("{\"url\": \"http://127.0.0.1:", receiver.port(),
                                          "/h\", \"events\": [\"match.retroactive\", \"signal.withdrawn\", \"signal.relabeled\"], \"member\": \"querier\"}"));
  ASSERT_EQ(hook.status, 201) << hook.body;
  const Hash256 pdq = RandomHash(rng_);
  Hash256 upload = pdq;
  upload.limbs[0] ^= 0x7;  // the platform's copy: 3 bits away
  const Response watch = Call(C(), "POST", "/v1/watch", C().query_token,
                              absl::StrCat("{\"items\": [{\"content_ref\": \"video-991\", \"pdq\": \"", upload.ToHex(), "\"}]}"));
  ASSERT_EQ(watch.status, 201) << watch.body;
  const std::string id = SubmitPdq(A(), pdq);
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return !got.empty(); }, kDeadline)) << "no webhook from node-c";
  json::value event = ParseJson(receiver.received()[0].body);
  EXPECT_EQ(event.at("type"), "match.retroactive");
  EXPECT_EQ(event.at("node_id"), "node-c");
  EXPECT_EQ(event.at("data").at("content_ref"), "video-991");
  EXPECT_EQ(event.at("data").at("signal").at("id"), json::value(id));
  EXPECT_EQ(event.at("data").at("signal").at("origin"), "node-a");
  EXPECT_EQ(event.at("data").at("signal").at("distance"), 3);
  EXPECT_EQ(event.at("data").at("signal").at("labels"), json::array{"ndii"});
  // A relabels its signal; C, two hops away, matches by the new label and tells the platform.
  const Response edit = Call(A(), "PUT", "/v1/signals/" + id + "/labels", A().submit_token,
                             "{\"labels\": [\"synthetic_ndii\"]}");
  ASSERT_EQ(edit.status, 200) << edit.body;
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return got.size() >= 2; }, kDeadline)) << "no relabel event";
  event = ParseJson(receiver.received()[1].body);
  EXPECT_EQ(event.at("type"), "signal.relabeled");
  EXPECT_EQ(event.at("data").at("content_ref"), "video-991");
  EXPECT_EQ(event.at("data").at("signal_id"), json::value(id));
  EXPECT_EQ(event.at("data").at("labels"), json::array{"synthetic_ndii"});
  const std::string filtered = absl::StrCat("{\"pdq\": \"", pdq.ToHex(), "\", \"labels\": [\"synthetic_ndii\"]}");
  const Response by_new = Call(C(), "POST", "/v1/match", C().query_token, filtered);
  ASSERT_EQ(by_new.status, 200) << by_new.body;
  EXPECT_EQ(ParseJson(by_new.body).at("matches").as_array().size(), 1u) << by_new.body;
  const Response by_old = Call(C(), "POST", "/v1/match", C().query_token,
                               absl::StrCat("{\"pdq\": \"", pdq.ToHex(), "\", \"labels\": [\"ndii\"]}"));
  EXPECT_TRUE(ParseJson(by_old.body).at("matches").as_array().empty()) << by_old.body;
  // C holds A's signal but is not its origin.
  EXPECT_EQ(Call(C(), "PUT", "/v1/signals/" + id + "/labels", C().admin_token, "{\"labels\": []}").status, 422);
  ASSERT_EQ(Call(A(), "DELETE", "/v1/signals/" + id, A().submit_token).status, 200);
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return got.size() >= 3; }, kDeadline)) << "no withdrawal event";
  event = ParseJson(receiver.received()[2].body);
  EXPECT_EQ(event.at("type"), "signal.withdrawn");
  EXPECT_EQ(event.at("data").at("signal_id"), json::value(id));
  // Nothing more can happen to the withdrawn signal: C forgets which uploads it matched.
  size_t match_rows = 0;
  ASSERT_TRUE(C().bank->ForEachStateRow("watchmatch/", [&](std::string_view, std::string_view) {
    ++match_rows;
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(match_rows, 0u);
  C().bank->SetEventListener(nullptr);
  dispatcher.Stop();
}

// node-a is restored from a backup taken at size 2 after its log reached 6 (and its peers hold all 6). At
// start it takes back entries 3-6 from node-b, verified with its own key, before it appends anything: its
// next signal is node-a:7, and node-b and node-c (two hops) accept it with no equivocation. Without the
// recovery the restored node would sign a second entry 3, and a second log of sizes its peers already hold.
TEST_F(FederationTest, ANodeRestoredFromAnOldBackupRecoversItsOwnLogTailFromPeersBeforeAppending) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  std::vector<Hash256> pdqs;
  for (int i = 0; i < 2; ++i) {
    pdqs.push_back(RandomHash(rng_));
    ASSERT_EQ(SubmitPdq(A(), pdqs.back()), absl::StrCat("node-a:", i + 1));
  }
  const std::string backup = root_ + "/a-backup";
  ASSERT_TRUE(A().bank->Backup(backup).ok());
  for (int i = 2; i < 5; ++i) {
    pdqs.push_back(RandomHash(rng_));
    ASSERT_EQ(SubmitPdq(A(), pdqs.back()), absl::StrCat("node-a:", i + 1));
  }
  ASSERT_EQ(Call(A(), "DELETE", "/v1/signals/node-a:1", A().submit_token).status, 200);  // entry 6
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 6; })) << "node-c never caught up";

  StopNode(A());
  std::filesystem::remove_all(A().dir + "/db");
  std::filesystem::copy(backup, A().dir + "/db", std::filesystem::copy_options::recursive);
  ASSERT_NO_FATAL_FAILURE(StartNode(A()));
  EXPECT_EQ(TrustedSize(*A().bank, "node-a"), 2u);
  {
    FederationOptions fo;
    for (const auto& [id, other] : nodes_) fo.members[id] = other->key->public_key();
    fo.peers.push_back({"node-b", "localhost", B().fed_port, absl::StrCat("https://localhost:", B().fed_port), ""});
    fo.client.ca_path = A().Path("ca.pem");
    fo.client.cert_path = A().Path("server.pem");
    fo.client.key_path = A().Path("server.key");
    fo.client.timeout = 10s;
    std::unique_lock lock(A().fed_mu);
    A().federation = std::make_unique<Federation>(A().bank.get(), std::move(fo));
  }
  auto recovery = A().federation->RecoverOwnLog();
  ASSERT_TRUE(recovery.ok()) << recovery.status();
  EXPECT_EQ(recovery->size_before, 2u);
  EXPECT_EQ(recovery->size_after, 6u);
  EXPECT_EQ(recovery->recovered_from, "node-b");
  EXPECT_EQ(recovery->reached, std::vector<std::string>{"node-b"});
  A().federation->Start();
  // What the restored node lacked is back, matched and withdrawn as before.
  for (size_t i = 1; i < pdqs.size(); ++i) {
    auto m = A().bank->MatchPdq(std::span<const Hash256>(&pdqs[i], 1), 0);
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->size(), 1u) << "signal " << i + 1;
    EXPECT_EQ((*m)[0].ref, (SignalRef{"node-a", i + 1}));
  }
  EXPECT_TRUE(A().bank->MatchPdq(std::span<const Hash256>(&pdqs[0], 1), 0)->empty());  // withdrawn at entry 6
  {
    std::ostringstream report;
    EXPECT_TRUE(A().bank->VerifyStoredLogs(report).ok()) << report.str();
  }
  // It appends after its real end, and every peer takes it.
  EXPECT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:7");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 7; })) << FederationStatus(C());
  EXPECT_FALSE(B().bank->IsEquivocating("node-a"));
  EXPECT_FALSE(C().bank->IsEquivocating("node-a"));
}

// Salt rotation on a federation of three (node/salt_rotation.h): the next salt is made from the current one,
// and each node in turn, stopped, re-publishes its own signals under it and starts on it. While node-a is on
// the new salt and node-b still on the old, they refuse each other (salt_mismatch). Once all three have
// rotated, a PDQ hash and an MD5 banked at node-a before the rotation match at node-c under the new salt (as
// the re-published signals), the old ids are withdrawn, node-c's files hold neither old-salt value, no
// origin is an equivocator, and every stored log verifies.
TEST_F(FederationTest, SaltRotationOnThreeNodesKeepsEveryBankedHashMatchingUnderTheNewSaltOnly) {
  ASSERT_NO_FATAL_FAILURE(StartChain({.sync_interval = 100ms}));
  const Hash256 pdq_a = RandomHash(rng_), pdq_c = RandomHash(rng_);
  Md5Digest md5_a{};
  for (auto& b : md5_a) b = static_cast<uint8_t>(rng_());
  SignalInput in;
  in.pdq = pdq_a;
  in.quality = 100;
  in.md5 = md5_a;
  in.labels = {"ndii"};
  const Actor submitter{"submitter", Role::kSubmit};
  ASSERT_TRUE(A().bank->Submit(in, submitter).ok());                  // node-a:1
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:2");            // withdrawn before the rotation
  ASSERT_EQ(Call(A(), "DELETE", "/v1/signals/node-a:2", A().submit_token).status, 200);
  ASSERT_EQ(SubmitPdq(C(), pdq_c), "node-c:1");
  ASSERT_TRUE(Eventually([&] { return Converged(); })) << FederationStatus(C());
  ASSERT_EQ(MatchIds(C(), pdq_a), std::vector<std::string>{"node-a:1"});
  const std::string old_pdq_bytes = SaltedPdqBytes(*salter_, pdq_a);
  auto old_md5 = salter_->SaltExact(ExactKind::kMd5, md5_a);
  ASSERT_TRUE(old_md5.ok());
  const std::string old_md5_bytes(old_md5->begin(), old_md5->end());

  // The next salt, as `hashbank salt rotate` makes it.
  auto next = FederationSalt::Generate("test-salt-2");
  ASSERT_TRUE(next.ok());
  next->exact_chain = {salter_->exact_chain_link()};
  const Salter next_salter(*next);
  ASSERT_TRUE(next_salter.Follows(*salter_));

  uint64_t republished_at_a = 0;
  for (const char* id : {"node-a", "node-b", "node-c"}) {
    const uint64_t republished = RotateNode(node(id), *next, next_salter);
    if (std::string(id) == "node-a") {
      republished_at_a = republished;
      // node-b is still on the old salt: both ends refuse to sync, and say why.
      ASSERT_TRUE(Eventually([&] {
        const json::value status = ParseJson(FederationStatus(A()));
        for (const json::value& p : status.at("peers").as_array()) {
          if (p.at("id") == json::value("node-b") && p.at("salt_mismatch") == json::value(true)) return true;
        }
        return false;
      })) << FederationStatus(A());
    }
  }
  EXPECT_EQ(republished_at_a, 1u) << "node-a:1 only (node-a:2 was withdrawn)";

  // node-a re-published node-a:1 as node-a:4 (after its withdrawal entry 3), withdrawing node-a:1 as entry 5.
  ASSERT_TRUE(Eventually([&] { return MatchIds(C(), pdq_a) == std::vector<std::string>{"node-a:4"}; }))
      << FederationStatus(C());
  auto md5_at_c = C().bank->MatchMd5(md5_a);
  ASSERT_TRUE(md5_at_c.ok()) << md5_at_c.status();
  ASSERT_EQ(md5_at_c->size(), 1u);
  EXPECT_EQ(FormatSignalId((*md5_at_c)[0].ref), "node-a:4");
  EXPECT_EQ((*md5_at_c)[0].labels, std::vector<std::string>{"ndii"});
  ASSERT_TRUE(Eventually([&] { return MatchIds(A(), pdq_c) == std::vector<std::string>{"node-c:2"}; }))
      << FederationStatus(A());
  auto old_at_c = C().bank->Get(SignalRef{"node-a", 1});
  ASSERT_TRUE(old_at_c.ok()) << old_at_c.status();
  EXPECT_TRUE(old_at_c->withdrawn);
  for (Node* n : {&A(), &B(), &C()}) {
    for (const char* origin : {"node-a", "node-b", "node-c"}) EXPECT_FALSE(n->bank->IsEquivocating(origin)) << n->id;
    std::ostringstream report;
    EXPECT_TRUE(n->bank->VerifyStoredLogs(report).ok()) << n->id << ": " << report.str();
    EXPECT_TRUE(n->bank->VerifyTables(report).ok()) << n->id << ": " << report.str();
  }
  // The old salt's values are in no file of node-c's database any more.
  ASSERT_TRUE(C().bank->Compact().ok());
  EXPECT_EQ(FilesContaining(C().dir + "/db", old_pdq_bytes), std::vector<std::string>{});
  // Not even in the MANIFEST: a digest is never a RocksDB key (the exact rows hold it as their value).
  EXPECT_EQ(FilesContaining(C().dir + "/db", old_md5_bytes), std::vector<std::string>{});
  EXPECT_FALSE(FilesContaining(C().dir + "/db", SaltedPdqBytes(next_salter, pdq_a)).empty()) << "positive control";
}

// A salt rotation tells the platforms nothing they knew: node-c's member was told of a match before the
// rotation, gets no event for the re-publication or for the old signal's withdrawal by rotation, and is still
// told when the re-published signal is really withdrawn (its watch-list match carried over to the new id).
// Its other watch entry, registered before the rotation, is re-salted with the list: a hash banked at node-a
// afterwards, under the new salt, matches it. A watch entry registered at node-c during the rotation window
// (node-c rotated, node-a not yet) matches node-a's re-published signal when it arrives.
TEST_F(FederationTest, SaltRotationSendsNoWebhookEventAndWatchListsKeepMatching) {
  ASSERT_NO_FATAL_FAILURE(StartChain({.sync_interval = 100ms}));
  testing::WebhookReceiver receiver;
  auto dispatcher = std::make_unique<WebhookDispatcher>(C().bank->notifications(), WebhookDispatcherOptions{});
  C().bank->SetEventListener([d = dispatcher.get()] { d->Wake(); });
  dispatcher->Start();
  const Response hook = Call(C(), "POST", "/v1/webhooks", C().admin_token,
                             absl::StrCat("{\"url\": \"http://127.0.0.1:", receiver.port(),
                                          "/h\", \"events\": [\"match.retroactive\", \"signal.withdrawn\"], \"member\": \"querier\"}"));
  ASSERT_EQ(hook.status, 201) << hook.body;
  const Hash256 pdq = RandomHash(rng_), later = RandomHash(rng_);
  Hash256 upload = pdq, later_upload = later;
  upload.limbs[0] ^= 0x7;
  later_upload.limbs[1] ^= 0x3;
  const Response watch = Call(C(), "POST", "/v1/watch", C().query_token,
                              absl::StrCat("{\"items\": [{\"content_ref\": \"video-1\", \"pdq\": \"", upload.ToHex(),
                                           "\"}, {\"content_ref\": \"video-2\", \"pdq\": \"", later_upload.ToHex(), "\"}]}"));
  ASSERT_EQ(watch.status, 201) << watch.body;
  ASSERT_EQ(SubmitPdq(A(), pdq), "node-a:1");
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return !got.empty(); }, kDeadline)) << "no webhook from node-c";
  ASSERT_EQ(ParseJson(receiver.received()[0].body).at("type"), "match.retroactive");
  const Hash256 window = RandomHash(rng_);
  ASSERT_EQ(SubmitPdq(A(), window), "node-a:2");  // nobody watches it yet
  ASSERT_TRUE(Eventually([&] { return Converged(); }));
  C().bank->SetEventListener(nullptr);
  dispatcher->Stop();
  dispatcher.reset();

  auto next = FederationSalt::Generate("test-salt-2");
  ASSERT_TRUE(next.ok());
  next->exact_chain = {salter_->exact_chain_link()};
  const Salter next_salter(*next);
  // node-c first: in the window its member watches an upload of the content banked as node-a:2.
  EXPECT_EQ(RotateNode(C(), *next, next_salter), 0u);
  dispatcher = std::make_unique<WebhookDispatcher>(C().bank->notifications(), WebhookDispatcherOptions{});
  C().bank->SetEventListener([d = dispatcher.get()] { d->Wake(); });
  dispatcher->Start();
  const Response in_window = Call(C(), "POST", "/v1/watch", C().query_token,
                                  absl::StrCat("{\"items\": [{\"content_ref\": \"video-3\", \"pdq\": \"", window.ToHex(), "\"}]}"));
  ASSERT_EQ(in_window.status, 201) << in_window.body;
  EXPECT_EQ(RotateNode(B(), *next, next_salter), 0u);
  EXPECT_EQ(RotateNode(A(), *next, next_salter), 2u);

  // node-a:1 and :2 were re-published as node-a:3 and :4 and withdrawn as node-a:5 and :6.
  ASSERT_TRUE(Eventually([&] { return MatchIds(C(), pdq) == std::vector<std::string>{"node-a:3"}; })) << FederationStatus(C());
  ASSERT_TRUE(Eventually([&] {
    size_t rows = 0;
    (void)C().bank->ForEachStateRow("watchmatch/node-a/3/", [&](std::string_view, std::string_view) {
      ++rows;
      return absl::OkStatus();
    });
    return rows == 1;
  })) << "the watch-list match did not carry over to node-a:3";
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return got.size() >= 2; }, kDeadline)) << "the window's watch entry was not told";
  std::this_thread::sleep_for(1s);  // ten sync intervals: time for any event the rotation would send
  ASSERT_EQ(receiver.received().size(), 2u) << receiver.received().back().body;
  json::value event = ParseJson(receiver.received()[1].body);
  EXPECT_EQ(event.at("type"), "match.retroactive");
  EXPECT_EQ(event.at("data").at("content_ref"), "video-3");
  EXPECT_EQ(event.at("data").at("signal").at("id"), "node-a:4");

  // A hash banked after the rotation matches the re-salted watch entry.
  ASSERT_EQ(SubmitPdq(A(), later), "node-a:7");
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return got.size() >= 3; }, kDeadline)) << "the re-salted watch entry did not match";
  event = ParseJson(receiver.received()[2].body);
  EXPECT_EQ(event.at("type"), "match.retroactive");
  EXPECT_EQ(event.at("data").at("content_ref"), "video-2");
  EXPECT_EQ(event.at("data").at("signal").at("id"), "node-a:7");
  EXPECT_EQ(event.at("data").at("signal").at("distance"), 2);

  // A real withdrawal of the re-published signal is told to the member of the pre-rotation match.
  ASSERT_EQ(Call(A(), "DELETE", "/v1/signals/node-a:3", A().submit_token).status, 200);
  ASSERT_TRUE(receiver.WaitFor([](const auto& got) { return got.size() >= 4; }, kDeadline)) << "no withdrawal event";
  event = ParseJson(receiver.received()[3].body);
  EXPECT_EQ(event.at("type"), "signal.withdrawn");
  EXPECT_EQ(event.at("data").at("signal_id"), "node-a:3");
  EXPECT_EQ(event.at("data").at("content_ref"), "video-1");
  C().bank->SetEventListener(nullptr);
  dispatcher->Stop();
}

// A reload turns node-c's only peer from node-b into node-a: node-b's sync thread ends, node-a's starts, and
// with node-b stopped a signal submitted at node-a still reaches node-c, now directly.
TEST_F(FederationTest, ReconfigureSwapsPeersWhileRunning) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:1");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 1; }));
  std::map<std::string, Ed25519PublicKey> members;
  for (const auto& [id, other] : nodes_) members[id] = other->key->public_key();
  {
    std::shared_lock lock(C().fed_mu);
    C().federation->Reconfigure(members, {{"node-a", "localhost", A().fed_port, absl::StrCat("https://localhost:", A().fed_port), ""}}, {});
  }
  const json::value peers = ParseJson(FederationStatus(C())).at("peers");
  ASSERT_EQ(peers.as_array().size(), 1u) << peers;
  EXPECT_EQ(peers.as_array()[0].at("id"), "node-a");
  StopNode(B());
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:2");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 2; })) << FederationStatus(C());

  // A member removed by a reload is refused from then on: node-a's next entry stays out of node-c.
  members.erase("node-a");
  {
    std::shared_lock lock(C().fed_mu);
    C().federation->Reconfigure(members, {{"node-a", "localhost", A().fed_port, absl::StrCat("https://localhost:", A().fed_port), ""}}, {});
  }
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:3");
  ASSERT_TRUE(Eventually([&] {
    const json::value a = OriginStatus(FederationStatus(C()), "node-a");
    return a.is_object() && a.at("member") == json::value(false) && a.as_object().contains("last_error");
  })) << FederationStatus(C());
  EXPECT_EQ(TrustedSize(*C().bank, "node-a"), 2u);
}

// federation.members[].certificate_sha256: a pinned member's certificate must be exactly the pinned one, on
// both ends. node-c pins node-b's certificate wrongly (node-a's digest): node-c's client refuses node-b and
// takes nothing more from it, until the right digest is pinned. Then node-b pins node-c wrongly: node-b's
// listener closes node-c's connections after the handshake, until the right digest is pinned there too.
TEST_F(FederationTest, APinnedCertificateIsRequiredOnBothEndsOfAFederationConnection) {
  ASSERT_NO_FATAL_FAILURE(StartChain({.sync_interval = 100ms}));
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:1");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 1; })) << FederationStatus(C());
  auto digest = [&](Node& n) {
    const auto info = InspectCertificate(testing::ReadFileText(n.Path("server.pem")));
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->sha256_fingerprint_hex : std::string();
  };
  const std::string a_sha = digest(A()), b_sha = digest(B()), c_sha = digest(C());
  ASSERT_NE(a_sha, b_sha);
  std::map<std::string, Ed25519PublicKey> members;
  for (const auto& [id, other] : nodes_) members[id] = other->key->public_key();
  auto peer = [&](Node& n, const std::string& pin) {
    return FederationPeerOptions{n.id, "localhost", n.fed_port, absl::StrCat("https://localhost:", n.fed_port), pin};
  };
  auto peer_error = [&](Node& n, const std::string& peer_id) {
    const json::value status = ParseJson(FederationStatus(n));  // kept alive for the loop
    for (const json::value& p : status.at("peers").as_array()) {
      if (p.at("id") == json::value(peer_id) && p.as_object().contains("last_error")) return std::string(p.at("last_error").as_string());
    }
    return std::string();
  };

  // Client side: node-c pins another certificate for node-b.
  {
    std::shared_lock lock(C().fed_mu);
    C().federation->Reconfigure(members, {peer(B(), a_sha)}, {{"node-b", a_sha}});
  }
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:2");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*B().bank, "node-a") == 2; }));
  ASSERT_TRUE(Eventually([&] { return peer_error(C(), "node-b").find("pinned") != std::string::npos; })) << FederationStatus(C());
  EXPECT_EQ(TrustedSize(*C().bank, "node-a"), 1u);
  {
    std::shared_lock lock(C().fed_mu);
    C().federation->Reconfigure(members, {peer(B(), b_sha)}, {{"node-b", b_sha}});
  }
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 2; })) << FederationStatus(C());

  // Server side: node-b pins another certificate for node-c; node-c's requests to node-b are refused.
  {
    std::shared_lock lock(B().fed_mu);
    B().federation->Reconfigure(members, {peer(A(), ""), peer(C(), "")}, {{"node-c", a_sha}});
  }
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:3");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*B().bank, "node-a") == 3; }));
  ASSERT_TRUE(Eventually([&] { return !peer_error(C(), "node-b").empty(); })) << FederationStatus(C());
  std::this_thread::sleep_for(500ms);  // five of node-c's sync rounds
  EXPECT_EQ(TrustedSize(*C().bank, "node-a"), 2u) << FederationStatus(C());
  {
    std::shared_lock lock(B().fed_mu);
    B().federation->Reconfigure(members, {peer(A(), ""), peer(C(), "")}, {{"node-c", c_sha}});
  }
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 3; })) << FederationStatus(C());
}

// A pinned member renews its certificate without a restart: node-c gets a new certificate and key in place,
// node-b pins the new digest, and node-c's reload (what SIGHUP does: the listener's ReloadTls, then
// ReloadClientTls) makes its next requests to node-b present the new certificate. Before the reload node-b
// refuses node-c's old one.
TEST_F(FederationTest, ARenewedCertificateReachesPeersAfterAReloadWithoutARestart) {
  ASSERT_NO_FATAL_FAILURE(StartChain({.sync_interval = 100ms}));
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:1");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 1; })) << FederationStatus(C());
  std::map<std::string, Ed25519PublicKey> members;
  for (const auto& [id, other] : nodes_) members[id] = other->key->public_key();
  auto peer = [&](Node& n) {
    return FederationPeerOptions{n.id, "localhost", n.fed_port, absl::StrCat("https://localhost:", n.fed_port), ""};
  };
  auto renewed = IssueNodeCertificate(ca_, "node-c");
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  const auto info = InspectCertificate(renewed->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  // node-c's files are replaced in place; node-b pins the new certificate.
  ASSERT_TRUE(WriteTlsFiles(C().dir, ca_, *renewed).ok());
  {
    std::shared_lock lock(B().fed_mu);
    B().federation->Reconfigure(members, {peer(A()), peer(C())}, {{"node-c", info->sha256_fingerprint_hex}});
  }
  ASSERT_EQ(SubmitPdq(A(), RandomHash(rng_)), "node-a:2");
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*B().bank, "node-a") == 2; }));
  std::this_thread::sleep_for(500ms);  // five of node-c's sync rounds, each refused (the old certificate)
  EXPECT_EQ(TrustedSize(*C().bank, "node-a"), 1u) << FederationStatus(C());
  // node-c's reload.
  ASSERT_TRUE(C().fed_server->ReloadTls().ok());
  {
    std::shared_lock lock(C().fed_mu);
    C().federation->ReloadClientTls();
  }
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == 2; })) << FederationStatus(C());
}

TEST_F(FederationTest, OpinionAtCReachesAAndModelPublishedAtAReachesC) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  const Hash256 pdq = RandomHash(rng_);
  ASSERT_EQ(SubmitPdq(A(), pdq), "node-a:1");
  ASSERT_TRUE(Eventually([&] { return C().bank->Get(SignalRef{"node-a", 1}).ok(); }));

  const Response op = Call(C(), "POST", "/v1/signals/node-a:1/opinions", C().query_token,
                           json::serialize(json::object{{"verdict", "confirmed"}}));
  ASSERT_EQ(op.status, 201) << op.body;
  EXPECT_EQ(ParseJson(op.body).at("id"), "node-c:1");
  ASSERT_TRUE(Eventually([&] {
    auto info = A().bank->Get(SignalRef{"node-a", 1});
    return info.ok() && info->confirmed == 1;
  })) << "C's opinion never reached node-a";
  auto info = A().bank->Get(SignalRef{"node-a", 1});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->confirmed, 1);
  EXPECT_EQ(info->disputed, 0);
  const Response got = Call(A(), "GET", "/v1/signals/node-a:1", A().query_token);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(ParseJson(got.body).at("opinions"), (json::object{{"confirmed", 1}, {"disputed", 0}})) << got.body;

  ModelInput model;
  model.model_id = kModelId;
  model.name = "test-model";
  model.version = "1";
  model.dimension = 16;
  model.input_width = model.input_height = 224;
  model.mean = {0.5f, 0.5f, 0.5f};
  model.std = {0.25f, 0.25f, 0.25f};
  auto ref = A().bank->PublishModel(model, Actor{"admin", Role::kAdmin});
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(FormatSignalId(*ref), "node-a:2");
  const uint64_t a_size = TrustedSize(*A().bank, "node-a");
  ASSERT_GE(a_size, ref->sequence);
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == a_size; }))
      << "node-c holds node-a's log to " << TrustedSize(*C().bank, "node-a") << ", not " << a_size;
  EXPECT_EQ(Latest(*C().bank, "node-a")->root, Latest(*A().bank, "node-a")->root);
  std::ostringstream report;
  EXPECT_TRUE(C().bank->VerifyStoredLogs(report).ok()) << report.str();
}

TEST_F(FederationTest, StatusThroughTheMemberApiShowsPeersConnectedAndNoLagOnceConverged) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  SubmitPdq(A(), RandomHash(rng_));
  SubmitPdq(A(), RandomHash(rng_));
  SubmitPdq(B(), RandomHash(rng_));
  SubmitPdq(C(), RandomHash(rng_));
  ASSERT_TRUE(Eventually([&] { return Converged(); })) << "the three logs never converged";

  // The status catches up within a sync round: every peer connected, no lag anywhere.
  auto settled = [](const json::value& v) {
    for (const json::value& p : v.at("peers").as_array()) {
      if (p.at("connected") != json::value(true)) return false;
    }
    for (const json::value& o : v.at("origins").as_array()) {
      if (o.at("lag").to_number<int64_t>() != 0) return false;
    }
    return true;
  };
  const std::map<std::string, std::vector<std::string>> peers = {
      {"node-a", {"node-b"}}, {"node-b", {"node-a", "node-c"}}, {"node-c", {"node-b"}}};
  const std::map<std::string, int64_t> sizes = {{"node-a", 2}, {"node-b", 1}, {"node-c", 1}};
  for (Node* n : {&A(), &B(), &C()}) {
    SCOPED_TRACE(n->id);
    json::value status;
    ASSERT_TRUE(Eventually([&] {
      const Response r = Call(*n, "GET", "/v1/federation/status", n->admin_token);
      if (r.status != 200) return false;
      status = ParseJson(r.body);
      return settled(status);
    })) << json::serialize(status);
    std::vector<std::string> peer_ids;
    for (const json::value& p : status.at("peers").as_array()) {
      peer_ids.emplace_back(p.at("id").as_string());
      EXPECT_EQ(p.at("connected"), true);
      EXPECT_EQ(p.at("last_error"), "");
      EXPECT_GT(p.at("syncs").to_number<int64_t>(), 0);
    }
    EXPECT_EQ(peer_ids, peers.at(n->id));
    std::map<std::string, int64_t> trusted;
    for (const json::value& o : status.at("origins").as_array()) {
      trusted[std::string(o.at("origin").as_string())] = o.at("trusted_size").to_number<int64_t>();
      EXPECT_EQ(o.at("lag").to_number<int64_t>(), 0) << json::serialize(o);
      EXPECT_EQ(o.at("member"), true);
      EXPECT_EQ(o.at("equivocation"), false);
      EXPECT_EQ(o.at("suspended"), false);
      EXPECT_FALSE(o.as_object().contains("last_error")) << json::serialize(o);
    }
    EXPECT_EQ(trusted, sizes);
  }
  // Admin only.
  EXPECT_EQ(Call(A(), "GET", "/v1/federation/status", A().query_token).status, 403);
}

// --- Mutual TLS on the federation listener -------------------------------------------------------------------

// A member on another federation salt (a replaced salt.json with the same id): its salted values would never
// match, so a node refuses to sync from it — visibly, in the status and the metrics — instead of filling its
// bank with entries that silently match nothing.
TEST_F(FederationTest, PeerOnAnotherSaltIsRefusedAndTheStatusSaysWhy) {
  auto other = FederationSalt::Generate(salt_.id);  // the same id, another key
  ASSERT_TRUE(other.ok());
  B().salt = *other;
  for (const char* id : {"node-a", "node-b"}) ASSERT_NO_FATAL_FAILURE(StartNode(node(id)));
  StartFederation(A(), {});
  StartFederation(B(), {"node-a"});
  SubmitPdq(A(), RandomHash(rng_));
  json::value status;
  ASSERT_TRUE(Eventually([&] {
    const Response r = Call(B(), "GET", "/v1/federation/status", B().admin_token);
    if (r.status != 200) return false;
    status = ParseJson(r.body);
    for (const json::value& p : status.at("peers").as_array()) {
      if (p.at("id") == json::value("node-a") && p.at("salt_mismatch") == json::value(true)) return true;
    }
    return false;
  })) << json::serialize(status);
  const std::string text = json::serialize(status);
  EXPECT_NE(text.find("another federation salt"), std::string::npos) << text;
  const Response metrics = Call(B(), "GET", "/metrics", B().admin_token);
  EXPECT_NE(metrics.body.find("hashbank_federation_peers_other_salt 1"), std::string::npos) << metrics.body;
  EXPECT_EQ(TrustedSize(*B().bank, "node-a"), 0u);  // nothing of A's log was taken
}

TEST_F(FederationTest, ListenerRefusesEveryClientButAMembersTls13Certificate) {
  // Expires one second after it is issued; used last, once the clock has passed its end.
  auto expired = IssueNodeCertificate(ca_, "node-b", CertOptions{.validity = 1s, .not_before_skew = 10min});
  ASSERT_TRUE(expired.ok()) << expired.status();
  auto expired_info = InspectCertificate(expired->cert_pem);
  ASSERT_TRUE(expired_info.ok());
  ASSERT_NO_FATAL_FAILURE(StartChain());

  auto other_ca = CreateCertificateAuthority("another CA", std::chrono::days(30));
  ASSERT_TRUE(other_ca.ok());
  auto foreign = IssueNodeCertificate(*other_ca, "node-b");
  ASSERT_TRUE(foreign.ok());
  auto stranger = IssueNodeCertificate(ca_, "node-q");  // the right CA, not a member
  ASSERT_TRUE(stranger.ok());
  auto server_only = IssueNodeCertificate(ca_, "node-b", CertOptions{.server_auth = true, .client_auth = false});
  ASSERT_TRUE(server_only.ok());
  auto write = [&](const std::string& name, const KeyAndCertificate& kc) {
    EXPECT_TRUE(WritePemFile(root_ + "/" + name + ".pem", kc.cert_pem, 0644).ok());
    EXPECT_TRUE(WritePemFile(root_ + "/" + name + ".key", kc.key_pem, 0600).ok());
  };
  write("foreign", *foreign);
  write("stranger", *stranger);
  write("expired", *expired);
  write("server-only", *server_only);

  const uint16_t port = A().fed_port;
  auto client_with = [&](const std::string& cert, const std::string& key, TlsMode mode = TlsMode::kTls13) {
    HttpsClientOptions o;
    o.tls = mode;
    o.client_cert_path = cert;
    o.client_key_path = key;
    o.timeout = 5s;
    return std::make_unique<HttpsClient>("127.0.0.1", port, ca_path_, o);
  };
  // No HTTP answer: the handshake fails, or the connection closes before any response.
  auto expect_refused = [&](HttpsClient& client, const std::string& what) {
    auto r = client.Request("GET", "/fed/v1/checkpoints");
    ASSERT_FALSE(r.ok()) << what << ": got HTTP " << r->status << " " << r->body;
    EXPECT_TRUE(absl::IsUnavailable(r.status())) << what << ": " << r.status();
  };
  auto expect_member_served = [&] {
    auto member = client_with(B().Path("server.pem"), B().Path("server.key"));
    auto r = member->Request("GET", "/fed/v1/checkpoints");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->headers["content-type"], "application/x-protobuf");
    pb::CheckpointList list;
    EXPECT_TRUE(list.ParseFromString(r->body));
  };

  expect_member_served();  // positive control
  {
    HttpsClient anonymous("127.0.0.1", port, ca_path_);
    expect_refused(anonymous, "no client certificate");
  }
  expect_refused(*client_with(root_ + "/foreign.pem", root_ + "/foreign.key"), "a certificate of another CA");
  expect_refused(*client_with(root_ + "/stranger.pem", root_ + "/stranger.key"), "a non-member's certificate");
  expect_refused(*client_with(root_ + "/server-only.pem", root_ + "/server-only.key"),
                 "a member certificate without clientAuth");
  {
    auto tls12 = client_with(B().Path("server.pem"), B().Path("server.key"), TlsMode::kTls12Max);
    auto r = tls12->Connect();
    EXPECT_TRUE(absl::IsUnavailable(r)) << "TLS 1.2: " << r;
    expect_refused(*tls12, "TLS 1.2 at most");
  }
  ASSERT_TRUE(Eventually([&] { return std::time(nullptr) > expired_info->not_after_unix; }, 10s));
  expect_refused(*client_with(root_ + "/expired.pem", root_ + "/expired.key"), "an expired certificate");
  expect_member_served();  // still serving members
}

// --- A node torn down in the middle of a large sync --------------------------------------------------------

TEST_F(FederationTest, NodeTornDownMidSyncResumesWithNothingMissingOrDoubled) {
  constexpr size_t kSignals = 20000, kBatch = 1000;
  constexpr uint64_t kServedBeforeCut = 4;  // segments B serves C before the cut
  constexpr uint64_t kSegment = 500;
  // B's federation listener: C's segment requests are recorded; past the cut they are refused (503), so C
  // is caught mid-sync at a known size, whatever the speed of the machine.
  struct Gate {
    std::atomic<bool> cut{true};
    std::atomic<uint64_t> served_to_c{0};
    std::mutex mu;
    std::vector<uint64_t> froms;  // `from` of every segment request of C that B answered
  };
  auto gate = std::make_shared<Gate>();
  B().fed_hook = [gate](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.peer_id != "node-c" || r.target.rfind("/fed/v1/segment", 0) != 0) return std::nullopt;
    if (gate->cut && gate->served_to_c >= kServedBeforeCut) return Answer(503);
    ++gate->served_to_c;
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->froms.push_back(std::stoull(QueryParam(r.target, "from")));
    return std::nullopt;
  };
  const NodeTuning tuning{.sync_interval = 200ms, .max_segment_entries = kSegment};
  ASSERT_NO_FATAL_FAILURE(StartChain(tuning, /*start_c_federation=*/false));

  std::vector<Hash256> hashes;
  std::vector<SignalRef> refs;
  for (size_t b = 0; b < kSignals / kBatch; ++b) {
    std::vector<SignalInput> batch(kBatch);
    for (SignalInput& in : batch) {
      hashes.push_back(RandomHash(rng_));
      in.pdq = hashes.back();
      in.quality = 100;
      in.labels = {"ndii"};
    }
    for (auto& r : A().bank->SubmitBatch(batch, Actor{"loader", Role::kSubmit})) {
      ASSERT_TRUE(r.ok()) << r.status();
      refs.push_back(*r);
    }
  }
  ASSERT_EQ(TrustedSize(*A().bank, "node-a"), kSignals);
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*B().bank, "node-a") == kSignals; }, 60s))
      << "node-b holds " << TrustedSize(*B().bank, "node-a");

  // C joins and syncs from B in segments of 500, until the cut.
  StartFederation(C(), {"node-b"}, tuning);
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == kServedBeforeCut * kSegment; }))
      << "node-c holds " << TrustedSize(*C().bank, "node-a");
  ASSERT_TRUE(Eventually([&] { return FederationStatus(C()).find("peer answered 503") != std::string::npos; }))
      << FederationStatus(C());
  StopNode(C());  // Federation stopped, everything destroyed; the data directory stays

  gate->cut = false;
  ASSERT_NO_FATAL_FAILURE(StartNode(C()));  // same directory, same federation port
  EXPECT_EQ(TrustedSize(*C().bank, "node-a"), kServedBeforeCut * kSegment);  // durable across the restart
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->froms.clear();
  }
  StartFederation(C(), {"node-b"}, tuning);
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*C().bank, "node-a") == kSignals; }, 60s))
      << "node-c holds " << TrustedSize(*C().bank, "node-a");
  EXPECT_EQ(Latest(*C().bank, "node-a")->root, Latest(*A().bank, "node-a")->root);
  {
    // Resumed where it stopped: segment by segment from 2000, never from the start again.
    std::lock_guard<std::mutex> lock(gate->mu);
    ASSERT_FALSE(gate->froms.empty());
    EXPECT_EQ(gate->froms.front(), kServedBeforeCut * kSegment);
    std::set<uint64_t> distinct(gate->froms.begin(), gate->froms.end());
    EXPECT_EQ(distinct.size(), gate->froms.size()) << "a segment was fetched twice";
    EXPECT_EQ(*distinct.begin(), kServedBeforeCut * kSegment);
  }

  std::ostringstream report;
  EXPECT_TRUE(C().bank->VerifyStoredLogs(report).ok()) << report.str();
  EXPECT_EQ(C().bank->Stats().signals, kSignals);
  // Every signal of A matches at C exactly once, as itself.
  for (size_t start = 0; start < kSignals; start += kBatch) {
    auto matches = C().bank->MatchPdq(std::span<const Hash256>(hashes).subspan(start, kBatch), 0);
    ASSERT_TRUE(matches.ok()) << matches.status();
    std::vector<int> count(kBatch, 0);
    for (const Match& m : *matches) {
      ASSERT_LT(m.query_index, kBatch);
      ++count[m.query_index];
      EXPECT_EQ(m.ref, refs[start + m.query_index]);
    }
    for (size_t i = 0; i < kBatch; ++i) ASSERT_EQ(count[i], 1) << "signal " << FormatSignalId(refs[start + i]);
  }
}


TEST_F(FederationTest, StopDuringALargeSyncReturnsWithoutFetchingTheRestOfTheLog) {
  constexpr uint64_t kSignals = 20000, kSegment = 500;
  // B holds C's second segment request until the test has called C's Federation::Stop; the rest pass.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool stop_called = false;
    int served = 0;
  };
  auto gate = std::make_shared<Gate>();
  B().fed_hook = [gate](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.peer_id != "node-c" || r.target.rfind("/fed/v1/segment", 0) != 0) return std::nullopt;
    std::unique_lock<std::mutex> lock(gate->mu);
    if (++gate->served == 2) gate->cv.wait_for(lock, 20s, [&] { return gate->stop_called; });
    return std::nullopt;
  };
  const NodeTuning tuning{.sync_interval = 200ms, .max_segment_entries = kSegment};
  ASSERT_NO_FATAL_FAILURE(StartChain(tuning, /*start_c_federation=*/false));
  for (uint64_t b = 0; b < kSignals / 1000; ++b) {
    std::vector<SignalInput> batch(1000);
    for (SignalInput& in : batch) {
      in.pdq = RandomHash(rng_);
      in.quality = 100;
    }
    for (const auto& r : A().bank->SubmitBatch(batch, Actor{"loader", Role::kSubmit})) {
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*B().bank, "node-a") == kSignals; }, 60s));
  StartFederation(C(), {"node-b"}, tuning);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(gate->mu);
    return gate->served == 2;
  }));
  Federation* f = nullptr;
  {
    std::shared_lock lock(C().fed_mu);
    f = C().federation.get();
  }
  std::atomic<bool> stop_entered{false};
  std::thread stopper([&] {
    stop_entered = true;
    f->Stop();
  });
  ASSERT_TRUE(Eventually([&] { return stop_entered.load(); }));
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->stop_called = true;
  }
  gate->cv.notify_all();
  stopper.join();
  // A stopping node finishes the segment in hand and fetches no more: not the 38 segments still to come.
  std::lock_guard<std::mutex> lock(gate->mu);
  EXPECT_LT(TrustedSize(*C().bank, "node-a"), kSignals) << gate->served << " segments served after Stop";
  EXPECT_LT(gate->served, static_cast<int>(kSignals / kSegment));
}

// =============================================================================================================
// A malicious member M: a valid certificate, a hand-made listener serving crafted logs of the origin node-o
// (whose key the test holds) to a fresh node X that pulls from M alone.

// The case page and the dashboard in a real headless chromium (tests/browser/case_flow.mjs): photos chosen and
// hashed on the page at A, the case number and PIN noted; no request carries image bytes; the hashes match at C;
// the case reopened shows members holding it; withdrawn from the page, the hashes stop matching at C; wrong PINs
// lock the case; an origin suspended from A's dashboard shows as suspended.
TEST_F(FederationTest, BrowserCaseFlowSubmitsFromThePageMatchesAtCAndTheVictimsWithdrawalStopsIt) {
  ASSERT_NO_FATAL_FAILURE(StartChain());
  // A's scanner (run by its webhook dispatcher, as `serve` wires it) records the disputes its dashboard lists.
  WebhookDispatcher dispatcher(A().bank->notifications(), WebhookDispatcherOptions{});
  A().bank->SetEventListener([&dispatcher] { dispatcher.Wake(); });
  dispatcher.Start();
  absl::Cleanup unhook = [&] {  // on every way out, before the dispatcher goes
    A().bank->SetEventListener(nullptr);
    dispatcher.Stop();
  };
  boost::json::array images;
  for (const char* f : {"pdq-reference/images/reg-test-input/dih/bridge-1-original.jpg",
                        "pdq-reference/images/reg-test-input/pen-and-coaster.png",
                        "vpdq-reference/videos/pattern-sd-grey-bar.mp4"}) {
    images.emplace_back(testing::DataPath(f));
  }
  const std::string work = (fs::temp_directory_path() / "hashbank-browser-tests" / "case").string();
  const boost::json::object cfg{{"a_url", absl::StrCat("https://127.0.0.1:", A().api_server->port())},
                                {"c_url", absl::StrCat("https://127.0.0.1:", C().api_server->port())},
                                {"a_admin", A().admin_token},
                                {"c_query", C().query_token},
                                {"images", images},
                                {"work", work},
                                {"pin_attempts", kCasePinAttempts}};
  auto r = testing::RunBrowserScript("case_flow.mjs", boost::json::serialize(cfg), 300);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_NE(r->output.find("all checks passed"), std::string::npos) << r->output;
  std::cout << r->output;
  // What the page submitted was withdrawn: it has left A's listing of victim_submitted signals (the dashboard
  // counted it there before the withdrawal).
  auto listed = A().bank->ListSignals(SignalListing{.bank = "", .label = "victim_submitted", .case_ref = "",
                                                    .after = std::nullopt, .limit = 100});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());
}

class FederationMaliciousPeerTest : public FederationFixture {
 protected:
  void SetUp() override {
    FederationFixture::SetUp();
    origin_key_ = NewSigningKey();
    other_key_ = NewSigningKey();
    extra_members_["node-o"] = origin_key_->public_key();
    Node& x = AddNode("node-x");
    Node& m = AddNode("node-m");
    // M's listener: mutual TLS against the federation CA, members only, serving what the test puts up.
    HttpsServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.cert_path = m.Path("server.pem");
    o.key_path = m.Path("server.key");
    o.client_ca_path = m.Path("ca.pem");
    o.io_threads = 1;
    o.worker_threads = 1;
    o.timeout = 10s;
    o.allow_peer = [](const std::string& id, const std::string&) { return id == "node-x"; };
    auto server = HttpsServer::Start(o, [this](const HttpRequest& r) { return Serve(r); });
    ASSERT_TRUE(server.ok()) << server.status();
    m.fed_server = std::move(*server);
    m.fed_port = m.fed_server->port();
    ASSERT_NO_FATAL_FAILURE(StartNode(x));
  }

  // What M serves.
  void Put(std::string list, std::function<std::string(const std::string& origin, uint64_t from)> segment) {
    std::lock_guard<std::mutex> lock(mu_);
    list_ = std::move(list);
    segment_ = std::move(segment);
  }

  HttpResponse Serve(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string path = r.target.substr(0, r.target.find('?'));
    if (path == "/fed/v1/checkpoints") return Protobuf(list_);
    if (path == "/fed/v1/segment") {
      const std::string origin = QueryParam(r.target, "origin");
      ++segment_requests_[origin];
      if (!segment_) return Answer(404);
      return Protobuf(segment_(origin, std::stoull(QueryParam(r.target, "from"))));
    }
    if (path == "/fed/v1/notify") return Answer(204);
    return Answer(404);
  }

  int SegmentRequests(const std::string& origin) {
    std::lock_guard<std::mutex> lock(mu_);
    return segment_requests_[origin];
  }

  void StartX() { StartFederation(X(), {"node-m"}, NodeTuning{.sync_interval = 100ms}); }
  Node& X() { return node("node-x"); }

  // Waits until X reports a last_error for node-o that contains `reason`.
  ::testing::AssertionResult RejectedFor(const std::string& reason) {
    std::string status;
    if (Eventually([&] {
          status = FederationStatus(X());
          return LastError(OriginStatus(status, "node-o")).find(reason) != std::string::npos;
        })) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no \"" << reason << "\" error for node-o: " << status;
  }

  // Completed sync rounds of X with M.
  int64_t Syncs() {
    const json::value v = ParseJson(FederationStatus(X()));
    if (!v.is_object() || !v.as_object().contains("peers") || v.at("peers").as_array().empty()) return 0;
    return v.at("peers").as_array()[0].at("syncs").to_number<int64_t>();
  }

  // An honest prefix: X applies node-o's log of `n` entries from M.
  void TrustHonestPrefix(const HandLog& log, uint64_t n) {
    Put(CheckpointList({log.CheckpointAt(n).signed_bytes}),
        [log, n](const std::string&, uint64_t from) { return log.Segment(from, n); });
    StartX();
    ASSERT_TRUE(Eventually([&] { return TrustedSize(*X().bank, "node-o") == n; }))
        << FederationStatus(X());
  }

  std::shared_ptr<const SigningKey> origin_key_, other_key_;
  std::mutex mu_;
  std::string list_;
  std::function<std::string(const std::string&, uint64_t)> segment_;
  std::map<std::string, int> segment_requests_;
};

TEST_F(FederationMaliciousPeerTest, TamperedEntryIsRejectedAsRootMismatchAndNothingIsApplied) {
  HandLog log("node-o", *origin_key_, 1);
  log.AppendSignals(10);
  pb::LogSegment seg = log.SegmentMessage(0, 10);
  pb::Entry e;
  ASSERT_TRUE(e.ParseFromString(seg.leaves(3).entry()));
  std::string pdq = e.signal().pdq();
  pdq[0] = static_cast<char>(pdq[0] ^ 1);
  e.mutable_signal()->set_pdq(pdq);  // still node-o's entry 4, one bit changed
  seg.mutable_leaves(3)->set_entry(e.SerializeAsString());
  const std::string tampered = seg.SerializeAsString();
  Put(CheckpointList({log.CheckpointAt(10).signed_bytes}),
      [tampered](const std::string&, uint64_t) { return tampered; });
  StartX();
  EXPECT_TRUE(RejectedFor("root mismatch"));
  EXPECT_TRUE(RejectedFor("from node-m"));
  EXPECT_FALSE(Latest(*X().bank, "node-o").has_value());
  EXPECT_EQ(X().bank->Stats().signals, 0u);
}

TEST_F(FederationMaliciousPeerTest, CheckpointWithABadSignatureIsRejectedAndNothingIsApplied) {
  HandLog log("node-o", *origin_key_, 2);
  log.AppendSignals(10);
  pb::LogSegment seg = log.SegmentMessage(0, 10);
  // node-o's checkpoint, signed by another key.
  ASSERT_TRUE(seg.mutable_checkpoint()->ParseFromString(log.CheckpointAt(10, other_key_.get()).signed_bytes));
  const std::string forged = seg.SerializeAsString();
  Put(CheckpointList({log.CheckpointAt(10, other_key_.get()).signed_bytes}),
      [forged](const std::string&, uint64_t) { return forged; });
  StartX();
  EXPECT_TRUE(RejectedFor("bad signature"));
  EXPECT_FALSE(Latest(*X().bank, "node-o").has_value());
  EXPECT_EQ(X().bank->Stats().signals, 0u);
}

TEST_F(FederationMaliciousPeerTest, RolledBackCheckpointAfterANewerOneIsRejectedAndTheTrustedOneKept) {
  HandLog log("node-o", *origin_key_, 3);
  log.AppendSignals(12);
  ASSERT_NO_FATAL_FAILURE(TrustHonestPrefix(log, 10));
  const auto trusted = Latest(*X().bank, "node-o");
  ASSERT_TRUE(trusted.has_value());

  // M claims 12 but serves node-o's valid, older checkpoint of size 5.
  const std::string older = log.Segment(0, 5);
  Put(CheckpointList({log.CheckpointAt(12).signed_bytes}), [older](const std::string&, uint64_t) { return older; });
  EXPECT_TRUE(RejectedFor("rollback"));
  const auto after = Latest(*X().bank, "node-o");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->tree_size, 10u);
  EXPECT_EQ(after->signed_bytes, trusted->signed_bytes);
  EXPECT_FALSE(X().bank->IsEquivocating("node-o"));
  EXPECT_EQ(X().bank->Stats().signals, 10u);
}

TEST_F(FederationMaliciousPeerTest, ForkOfTwoSignedCheckpointsOfOneSizeIsRejectedAndTheOriginRefused) {
  HandLog log("node-o", *origin_key_, 4);
  log.AppendSignals(10);
  ASSERT_NO_FATAL_FAILURE(TrustHonestPrefix(log, 10));
  const auto trusted = Latest(*X().bank, "node-o");
  ASSERT_TRUE(trusted.has_value());

  // node-o signed a second log of 10 entries with other contents: equivocation.
  HandLog fork("node-o", *origin_key_, 5);
  fork.AppendSignals(11);
  pb::LogSegment seg;
  ASSERT_TRUE(seg.mutable_checkpoint()->ParseFromString(fork.CheckpointAt(10).signed_bytes));
  seg.set_first_index(10);
  const std::string forked = seg.SerializeAsString();
  Put(CheckpointList({fork.CheckpointAt(11).signed_bytes}), [forked](const std::string&, uint64_t) { return forked; });
  EXPECT_TRUE(RejectedFor("fork"));
  EXPECT_TRUE(X().bank->IsEquivocating("node-o"));
  auto evidence = X().bank->Evidence("node-o");
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  EXPECT_EQ(evidence->size(), 1u);
  const auto after = Latest(*X().bank, "node-o");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->signed_bytes, trusted->signed_bytes);
  EXPECT_EQ(OriginStatus(FederationStatus(X()), "node-o").at("equivocation"), true);

  // From then on even node-o's honest continuation is refused.
  Put(CheckpointList({log.CheckpointAt(12).signed_bytes}),
      [log](const std::string&, uint64_t from) { return log.Segment(from, 12); });
  const int64_t rounds = Syncs();
  ASSERT_TRUE(Eventually([&] { return Syncs() >= rounds + 2; }));
  EXPECT_EQ(TrustedSize(*X().bank, "node-o"), 10u);
}

// Gossip: M shows only node-o's signed checkpoint of size 6 from a second history, below the size-10 one X
// trusts. Nothing is fetched; the checkpoint alone, checked against X's stored leaves, proves the fork.
// An honest smaller checkpoint (a lagging peer) proves nothing and changes nothing.
TEST_F(FederationMaliciousPeerTest, ForkAtASmallerSizeIsFoundFromTheGossipedCheckpointAlone) {
  HandLog log("node-o", *origin_key_, 7);
  log.AppendSignals(10);
  ASSERT_NO_FATAL_FAILURE(TrustHonestPrefix(log, 10));
  Put(CheckpointList({log.CheckpointAt(7).signed_bytes}),
      [log](const std::string&, uint64_t from) { return log.Segment(from, 7); });
  const int64_t rounds = Syncs();
  ASSERT_TRUE(Eventually([&] { return Syncs() >= rounds + 2; }));
  EXPECT_FALSE(X().bank->IsEquivocating("node-o"));
  const int requests = SegmentRequests("node-o");

  HandLog fork("node-o", *origin_key_, 8);
  fork.AppendSignals(6);
  Put(CheckpointList({fork.CheckpointAt(6).signed_bytes}),
      [fork](const std::string&, uint64_t from) { return fork.Segment(from, 6); });
  EXPECT_TRUE(RejectedFor("not a prefix"));
  EXPECT_TRUE(X().bank->IsEquivocating("node-o"));
  EXPECT_EQ(SegmentRequests("node-o"), requests);  // found without fetching
  auto evidence = X().bank->Evidence("node-o");
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  ASSERT_EQ(evidence->size(), 1u);
  pb::EquivocationEvidence e;
  ASSERT_TRUE(e.ParseFromString((*evidence)[0]));
  EXPECT_EQ(e.first().SerializeAsString(), log.CheckpointAt(10).signed_bytes);
  EXPECT_EQ(e.second().SerializeAsString(), fork.CheckpointAt(6).signed_bytes);
  EXPECT_EQ(TrustedSize(*X().bank, "node-o"), 10u);
}

TEST_F(FederationMaliciousPeerTest, LogOfAnUnknownOriginIsRefusedReportedAndNeverFetched) {
  HandLog log("node-z", *other_key_, 6);  // a key no member has
  log.AppendSignals(10);
  Put(CheckpointList({log.CheckpointAt(10).signed_bytes}),
      [log](const std::string&, uint64_t from) { return log.Segment(from, 10); });
  StartX();
  ASSERT_TRUE(Eventually([&] { return Syncs() >= 2; })) << FederationStatus(X());
  EXPECT_EQ(SegmentRequests("node-z"), 0);
  EXPECT_FALSE(Latest(*X().bank, "node-z").has_value());
  EXPECT_EQ(X().bank->Stats().signals, 0u);
  auto origins = X().bank->Origins();
  ASSERT_TRUE(origins.ok());
  EXPECT_EQ(std::count(origins->begin(), origins->end(), "node-z"), 0);
  // Refused and reported (federation.h: "Unknown origins ... are refused and reported in the status").
  const std::string status = FederationStatus(X());
  const json::value z = OriginStatus(status, "node-z");
  EXPECT_TRUE(z.is_object()) << "node-z is not in the status: " << status;
  EXPECT_NE(LastError(z).find("unknown origin"), std::string::npos) << status;
}


// =============================================================================================================
// The real binary: node-c is `hashbank serve` (configured by `hashbank ca init` / `hashbank node init`), killed
// with SIGKILL in the middle of its sync from the in-process node-b, and started again.

class FederationProcessTest : public FederationFixture {
 protected:
  void SetUp() override {
    FederationFixture::SetUp();
    log_path_ = root_ + "/hashbank.log";
    // The federation's CA and salt from `hashbank ca init`, shared by the in-process nodes.
    const std::string ca_dir = root_ + "/ca";
    ASSERT_EQ(RunToCompletion({"ca", "init", "--dir", ca_dir}), 0) << Log();
    auto ca_key = ReadTextFile(ca_dir + "/ca.key");
    auto ca_cert = ReadTextFile(ca_dir + "/ca.pem");
    auto salt_json = ReadTextFile(ca_dir + "/salt.json");
    ASSERT_TRUE(ca_key.ok() && ca_cert.ok() && salt_json.ok());
    ca_ = KeyAndCertificate{*ca_key, *ca_cert};
    ca_path_ = ca_dir + "/ca.pem";
    const json::value salt = ParseJson(*salt_json);
    auto parsed = FederationSalt::FromHex(std::string(salt.at("salt_id").as_string()),
                                          std::string(salt.at("key").as_string()));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    salt_ = *parsed;
    salter_ = std::make_unique<Salter>(salt_);
    AddNode("node-a");
    AddNode("node-b");
    // node-c: `hashbank node init`, its public key a member of the in-process nodes' federation.
    c_dir_ = root_ + "/node-c";
    ASSERT_EQ(RunToCompletion({"node", "init", "--ca", ca_dir, "--id", "node-c", "--host", "localhost", "--ip",
                               "127.0.0.1", "--out", c_dir_}),
              0)
        << Log();
    auto c_key = ReadSigningKeyFile(c_dir_ + "/node.key");
    ASSERT_TRUE(c_key.ok()) << c_key.status();
    c_public_key_ = c_key->key.public_key();
    extra_members_["node-c"] = c_public_key_;
  }

  int RunToCompletion(const std::vector<std::string>& args) {
    auto child = NodeProcess::Start(args, log_path_);
    if (!child.ok()) {
      ADD_FAILURE() << child.status();
      return -1;
    }
    return ExitCode((*child)->Wait());
  }

  std::string Log() {
    auto text = ReadTextFile(log_path_, size_t{1} << 24);
    return text.ok() ? *text : "";
  }

  // The `federation` section of node-c's config: members a (unless `without_a`), b, c; node-b as its peer;
  // no listener. Written over the config `node init` made (kept aside the first time).
  void WriteCConfig(bool without_a = false, const std::string& b_certificate_sha256 = "") {
    const std::string base = c_dir_ + "/hashbank.yaml.init";
    if (std::error_code ec; !std::filesystem::exists(base, ec)) {
      std::filesystem::copy_file(c_dir_ + "/hashbank.yaml", base, ec);
      ASSERT_FALSE(ec) << ec.message();
    }
    auto yaml = ReadTextFile(base);
    ASSERT_TRUE(yaml.ok()) << yaml.status();
    std::string config = *yaml;
    absl::StrAppend(&config, "federation:\n  sync_interval_ms: 200\n  max_segment_entries: 500\n  members:\n");
    std::map<std::string, Ed25519PublicKey> members{{"node-b", node("node-b").key->public_key()}, {"node-c", c_public_key_}};
    if (!without_a) members["node-a"] = node("node-a").key->public_key();
    for (const auto& [id, key] : members) {
      absl::StrAppend(&config, "    - {id: ", id, ", public_key: \"", PublicKeyHex(key), "\"",
                      id == "node-b" && !b_certificate_sha256.empty() ? ", certificate_sha256: \"" + b_certificate_sha256 + "\"" : "",
                      "}\n");
    }
    absl::StrAppend(&config, "  peers:\n    - {id: node-b, url: \"https://localhost:", node("node-b").fed_port,
                    "\"}\n");
    ASSERT_TRUE(WritePemFile(c_dir_ + "/hashbank.yaml", config, 0644).ok());
  }

  // Starts `hashbank serve` for node-c; the port of its member API, and an admin client for it.
  void StartC() {
    auto child =
        NodeProcess::Start({"serve", "--config", c_dir_ + "/hashbank.yaml", "--listen", "127.0.0.1:0"}, log_path_);
    ASSERT_TRUE(child.ok()) << child.status();
    c_ = std::move(*child);
    auto port = c_->ServingPort(30s);
    ASSERT_TRUE(port.ok()) << port.status() << "\n" << Log();
    auto token = ReadTextFile(c_dir_ + "/admin.token");
    ASSERT_TRUE(token.ok()) << token.status();
    c_token_ = std::string(absl::StripAsciiWhitespace(*token));
    c_client_ = std::make_unique<HttpsClient>("127.0.0.1", *port, c_dir_ + "/tls/ca.pem");
  }

  // node-c's trusted size of node-a's log, from its GET /v1/federation/status (0 when unknown).
  uint64_t CTrustedSizeOfA() {
    auto r = c_client_->Request("GET", "/v1/federation/status", "", {{"Authorization", "Bearer " + c_token_}});
    if (!r.ok() || r->status != 200) return 0;
    const json::value a = OriginStatus(r->body, "node-a");
    return a.is_object() ? a.at("trusted_size").to_number<uint64_t>() : 0;
  }

  void TearDown() override {
    c_client_.reset();
    c_.reset();
    FederationFixture::TearDown();
  }

  std::string log_path_, c_dir_, c_token_;
  Ed25519PublicKey c_public_key_{};
  std::unique_ptr<NodeProcess> c_;
  std::unique_ptr<HttpsClient> c_client_;
};

// An operator adds node-a to node-c's members and sends SIGHUP: node-c keeps running, keeps the admin's
// open connection, and from then on accepts node-a's log (relayed by node-b); a configuration that does not
// load is refused with the running one kept.
TEST_F(FederationProcessTest, SighupAddsAMemberWithoutARestartAndABadConfigChangesNothing) {
  for (const char* id : {"node-a", "node-b"}) ASSERT_NO_FATAL_FAILURE(StartNode(node(id)));
  const NodeTuning tuning{.sync_interval = 200ms, .max_segment_entries = 500};
  StartFederation(node("node-a"), {"node-b"}, tuning);
  StartFederation(node("node-b"), {"node-a"}, tuning);
  const Hash256 pdq = RandomHash(rng_);
  SignalInput in;
  in.pdq = pdq;
  in.quality = 100;
  ASSERT_TRUE(node("node-a").bank->Submit(in, Actor{"loader", Role::kSubmit}).ok());
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*node("node-b").bank, "node-a") == 1; }, 30s));

  ASSERT_NO_FATAL_FAILURE(WriteCConfig(/*without_a=*/true));
  ASSERT_NO_FATAL_FAILURE(StartC());
  auto status = [&] { return c_client_->Request("GET", "/v1/federation/status", "", {{"Authorization", "Bearer " + c_token_}}); };
  // node-b offers node-a's log; node-c refuses an origin it does not know.
  ASSERT_TRUE(Eventually([&] {
    auto r = status();
    return r.ok() && r->status == 200 && r->body.find("unknown origin") != std::string::npos;
  }, 30s)) << Log();
  EXPECT_EQ(CTrustedSizeOfA(), 0u);

  // A config that does not parse: refused, node-c serves on with the running one.
  ASSERT_TRUE(WritePemFile(c_dir_ + "/hashbank.yaml", "federation: [unclosed\n", 0644).ok());
  c_->Send(SIGHUP);
  ASSERT_TRUE(c_->WaitForText("reload refused", 30s).ok()) << c_->out();
  auto health = c_client_->Request("GET", "/v1/health", "", {});
  ASSERT_TRUE(health.ok() && health->status == 200);

  ASSERT_NO_FATAL_FAILURE(WriteCConfig());  // node-a is a member now
  c_->Send(SIGHUP);
  auto members = c_->NumberAfter("hashbank: reload: federation of ", 30s);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(*members, 3u);
  ASSERT_TRUE(Eventually([&] { return CTrustedSizeOfA() == 1; }, 30s)) << Log() << c_->out();
  // The admin's connection, open across both reloads, is still open and carries the next request; the node
  // was never restarted (one "serving" line).
  EXPECT_TRUE(c_client_->idle_connection_alive());
  auto r = status();
  ASSERT_TRUE(r.ok() && r->status == 200);
  const json::value a_status = OriginStatus(r->body, "node-a");
  ASSERT_TRUE(a_status.is_object()) << r->body;
  EXPECT_EQ(a_status.at("member"), true) << r->body;
  size_t serving = 0;
  for (size_t at = c_->out().find("serving https://"); at != std::string::npos; at = c_->out().find("serving https://", at + 1)) ++serving;
  EXPECT_EQ(serving, 1u);
  const int stopped = c_->Signal(SIGTERM);
  EXPECT_EQ(ExitCode(stopped), 0) << c_->out();
}

// The pin as an operator writes it: node-c's config pins node-b's certificate. A wrong digest stops node-c's
// sync from node-b (the status says why); the right one, in upper case, applied by SIGHUP, lets it through.
TEST_F(FederationProcessTest, AConfiguredCertificatePinIsEnforcedAndASighupReplacesIt) {
  for (const char* id : {"node-a", "node-b"}) ASSERT_NO_FATAL_FAILURE(StartNode(node(id)));
  const NodeTuning tuning{.sync_interval = 200ms, .max_segment_entries = 500};
  StartFederation(node("node-a"), {"node-b"}, tuning);
  StartFederation(node("node-b"), {"node-a"}, tuning);
  SignalInput in;
  in.pdq = RandomHash(rng_);
  in.quality = 100;
  ASSERT_TRUE(node("node-a").bank->Submit(in, Actor{"loader", Role::kSubmit}).ok());
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*node("node-b").bank, "node-a") == 1; }, 30s));
  auto digest = [&](const char* id) {
    const auto info = InspectCertificate(testing::ReadFileText(node(id).Path("server.pem")));
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->sha256_fingerprint_hex : std::string();
  };

  ASSERT_NO_FATAL_FAILURE(WriteCConfig(false, digest("node-a")));  // not node-b's certificate
  ASSERT_NO_FATAL_FAILURE(StartC());
  auto status = [&] {
    auto r = c_client_->Request("GET", "/v1/federation/status", "", {{"Authorization", "Bearer " + c_token_}});
    return r.ok() ? r->body : std::string();
  };
  ASSERT_TRUE(Eventually([&] { return status().find("other than the one pinned") != std::string::npos; }, 30s))
      << status() << Log();
  EXPECT_EQ(CTrustedSizeOfA(), 0u);

  ASSERT_NO_FATAL_FAILURE(WriteCConfig(false, absl::AsciiStrToUpper(digest("node-b"))));
  c_->Send(SIGHUP);
  ASSERT_TRUE(c_->NumberAfter("hashbank: reload: federation of ", 30s).ok()) << c_->out();
  ASSERT_TRUE(Eventually([&] { return CTrustedSizeOfA() == 1; }, 30s)) << status() << Log();
  EXPECT_EQ(ExitCode(c_->Signal(SIGTERM)), 0) << c_->out();
}

TEST_F(FederationProcessTest, ServeKilledMidSyncRestartsAndResumesWithNothingMissingOrDoubled) {
  constexpr uint64_t kSignals = 20000;
  constexpr size_t kBatch = 1000;
  for (const char* id : {"node-a", "node-b"}) ASSERT_NO_FATAL_FAILURE(StartNode(node(id)));
  const NodeTuning tuning{.sync_interval = 200ms, .max_segment_entries = 500};
  StartFederation(node("node-a"), {"node-b"}, tuning);
  StartFederation(node("node-b"), {"node-a"}, tuning);
  Bank& a = *node("node-a").bank;
  std::vector<Hash256> hashes;
  std::vector<SignalRef> refs;
  for (uint64_t b = 0; b < kSignals / kBatch; ++b) {
    std::vector<SignalInput> batch(kBatch);
    for (SignalInput& in : batch) {
      hashes.push_back(RandomHash(rng_));
      in.pdq = hashes.back();
      in.quality = 100;
    }
    for (auto& r : a.SubmitBatch(batch, Actor{"loader", Role::kSubmit})) {
      ASSERT_TRUE(r.ok()) << r.status();
      refs.push_back(*r);
    }
  }
  ASSERT_TRUE(Eventually([&] { return TrustedSize(*node("node-b").bank, "node-a") == kSignals; }, 60s));

  ASSERT_NO_FATAL_FAILURE(WriteCConfig());
  ASSERT_NO_FATAL_FAILURE(StartC());
  uint64_t at_kill = 0;
  ASSERT_TRUE(Eventually([&] { return (at_kill = CTrustedSizeOfA()) > 0; }, 30s)) << Log();
  const int status = c_->Signal(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status << "\n" << Log();
  RecordProperty("trusted_size_seen_before_kill", std::to_string(at_kill));

  ASSERT_NO_FATAL_FAILURE(StartC());
  ASSERT_TRUE(Eventually([&] { return CTrustedSizeOfA() == kSignals; }, 60s))
      << "node-c holds " << CTrustedSizeOfA() << "\n" << Log();
  c_client_.reset();
  const int term = c_->Signal(SIGTERM);
  ASSERT_EQ(ExitCode(term), 0) << "wait status " << term << "\n" << Log();

  // node-c's data, opened here: the log verifies and every signal of A matches exactly once, as itself.
  auto loaded = ReadSigningKeyFile(c_dir_ + "/node.key");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  BankOptions bo;
  bo.data_dir = c_dir_;
  bo.node_id = "node-c";
  bo.signing_key = std::make_shared<const SigningKey>(std::move(loaded->key));
  auto bank = Bank::Open(bo, std::make_unique<Salter>(salt_));
  ASSERT_TRUE(bank.ok()) << bank.status();
  const auto c_latest = Latest(**bank, "node-a");
  ASSERT_TRUE(c_latest.has_value());
  EXPECT_EQ(c_latest->tree_size, kSignals);
  EXPECT_EQ(c_latest->root, Latest(a, "node-a")->root);
  std::ostringstream report;
  EXPECT_TRUE((*bank)->VerifyStoredLogs(report).ok()) << report.str();
  EXPECT_EQ((*bank)->Stats().signals, kSignals);
  for (size_t start = 0; start < kSignals; start += kBatch) {
    auto matches = (*bank)->MatchPdq(std::span<const Hash256>(hashes).subspan(start, kBatch), 0);
    ASSERT_TRUE(matches.ok()) << matches.status();
    std::vector<int> count(kBatch, 0);
    for (const Match& m : *matches) {
      ASSERT_LT(m.query_index, kBatch);
      ++count[m.query_index];
      EXPECT_EQ(m.ref, refs[start + m.query_index]);
    }
    for (size_t i = 0; i < kBatch; ++i) ASSERT_EQ(count[i], 1) << "signal " << FormatSignalId(refs[start + i]);
  }

  // `hashbank verify https://...` as node-c (its config: members' keys, its member certificate) fetches
  // every log node-b serves and verifies it from the first leaf.
  const std::string out = c_dir_ + "/verify.out";
  const std::string cmd = absl::StrCat("'", HASHBANK_BINARY, "' verify https://localhost:", node("node-b").fed_port,
                                       " --config '", c_dir_, "/hashbank.yaml' > '", out, "' 2>&1");
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  auto report_text = ReadTextFile(out);
  ASSERT_TRUE(report_text.ok());
  // Not vacuous: node-a's whole log was fetched and checked.
  EXPECT_NE(report_text->find("ok   node-a: " + std::to_string(kSignals) + " leaves"), std::string::npos) << *report_text;
}

}  // namespace
}  // namespace hashbank
