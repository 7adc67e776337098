// fleet-registry: a fast stand-in for a container registry's tag listing, for
// tagpilot's fleet-scale benchmark (bench/fleet.sh). Only what a scan uses:
//
//	GET /v2/                          401 with a Bearer challenge (token flow on)
//	GET /token?service=&scope=        {"token": ...} for repository:NAME:pull
//	GET /v2/NAME/tags/list?n=&last=   the tags in byte order, at most min(n, -page-cap)
//	                                  per page, with a Link: <...>; rel="next" header
//	                                  while more remain (as distribution does)
//
// and, for the benchmark itself, on the same port:
//
//	POST /admin/bump?repo=NAME        adds one generation (two new tags) to NAME;
//	                                  without repo, to every repository
//	GET  /admin/stats                 request counts by kind, as JSON
//
// Repositories are fleet/app-0000 ... fleet/app-NNNN (-repos), each with -tags
// tags generated from its index: release versions, release candidates, build
// tags and signature tags, like a busy CI-fed repository. Everything is in
// memory; nothing is read from or written to disk. Loopback only.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

type repository struct {
	mu         sync.RWMutex
	tags       []string // sorted
	base       int      // how many tags it started with (-tags)
	generation int
}

type server struct {
	repos    map[string]*repository
	pageCap  int
	token    bool
	requests struct {
		ping, token, tags, unauthorized, other, bumps atomic.Int64
	}
}

func hexOf(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])
}

// baseTags is repository index's tag set: 60% releases, 10% release candidates,
// 20% build tags (main-SHA-N), 10% signature tags (sha256-HEX.sig).
func baseTags(index, count int) []string {
	tags := make([]string, 0, count)
	for k := 0; k < count; k++ {
		switch k % 10 {
		case 0, 1, 2, 3, 4, 5:
			tags = append(tags, fmt.Sprintf("1.%d.%d", k/10, k%10))
		case 6:
			tags = append(tags, fmt.Sprintf("1.%d.%d-rc.1", k/10, k%10))
		case 7, 8:
			tags = append(tags, fmt.Sprintf("main-%s-%d", hexOf(strconv.Itoa(index), strconv.Itoa(k))[:8], k))
		default:
			tags = append(tags, fmt.Sprintf("sha256-%s.sig", hexOf("sig", strconv.Itoa(index), strconv.Itoa(k))))
		}
	}
	return tags
}

// generationTags are the two tags generation g adds: a release above every
// base one and a build tag with a higher build number (count is the number of
// base tags, not the current one: bench/fleet.py expects build count+g).
func generationTags(index, count, g int) []string {
	return []string{
		fmt.Sprintf("2.0.%d", g),
		fmt.Sprintf("main-%s-%d", hexOf("gen", strconv.Itoa(index), strconv.Itoa(g))[:8], count+g),
	}
}

func (s *server) challenge(w http.ResponseWriter, r *http.Request, scope string) {
	realm := "http://" + r.Host + "/token"
	value := fmt.Sprintf(`Bearer realm=%q,service="fleet-registry"`, realm)
	if scope != "" {
		value += fmt.Sprintf(`,scope=%q`, scope)
	}
	w.Header().Set("WWW-Authenticate", value)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
}

func tokenFor(scope string) string { return "fleet-" + hexOf("token", scope)[:32] }

func (s *server) authorized(r *http.Request, name string) bool {
	if !s.token {
		return true
	}
	return r.Header.Get("Authorization") == "Bearer "+tokenFor("repository:"+name+":pull")
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/v2/" || path == "/v2":
		s.requests.ping.Add(1)
		if s.token && r.Header.Get("Authorization") == "" {
			s.challenge(w, r, "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{}")
	case path == "/token":
		s.requests.token.Add(1)
		scope := r.URL.Query().Get("scope")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token": tokenFor(scope), "expires_in": 3600})
	case strings.HasPrefix(path, "/v2/") && strings.HasSuffix(path, "/tags/list"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/v2/"), "/tags/list")
		s.tagsList(w, r, name)
	case path == "/admin/bump" && r.Method == http.MethodPost:
		s.bump(w, r)
	case path == "/admin/stats":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{
			"ping": s.requests.ping.Load(), "token": s.requests.token.Load(),
			"tags": s.requests.tags.Load(), "unauthorized": s.requests.unauthorized.Load(),
			"other": s.requests.other.Load(), "bumps": s.requests.bumps.Load(),
			"total": s.requests.ping.Load() + s.requests.token.Load() + s.requests.tags.Load() + s.requests.other.Load(),
		})
	default:
		s.requests.other.Add(1)
		http.NotFound(w, r)
	}
}

func (s *server) tagsList(w http.ResponseWriter, r *http.Request, name string) {
	s.requests.tags.Add(1)
	repo, ok := s.repos[name]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":%q}}]}`, name)
		return
	}
	if !s.authorized(r, name) {
		s.requests.unauthorized.Add(1)
		s.challenge(w, r, "repository:"+name+":pull")
		return
	}
	query := r.URL.Query()
	n := s.pageCap
	if text := query.Get("n"); text != "" {
		if value, err := strconv.Atoi(text); err == nil && value > 0 && value < n {
			n = value
		}
	}
	last := query.Get("last")
	repo.mu.RLock()
	start := 0
	if last != "" {
		start = sort.SearchStrings(repo.tags, last)
		if start < len(repo.tags) && repo.tags[start] == last {
			start++
		}
	}
	end := min(start+n, len(repo.tags))
	page := repo.tags[start:end]
	more := end < len(repo.tags)
	body, _ := json.Marshal(map[string]any{"name": name, "tags": page})
	repo.mu.RUnlock()
	if more {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {page[len(page)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?%s>; rel="next"`, name, next.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (s *server) bump(w http.ResponseWriter, r *http.Request) {
	s.requests.bumps.Add(1)
	name := r.URL.Query().Get("repo")
	bumped := 0
	for repoName, repo := range s.repos {
		if name != "" && repoName != name {
			continue
		}
		index, _ := strconv.Atoi(strings.TrimPrefix(repoName, "fleet/app-"))
		repo.mu.Lock()
		repo.generation++
		tags := append(append([]string{}, repo.tags...), generationTags(index, repo.base, repo.generation)...)
		sort.Strings(tags)
		repo.tags = tags
		repo.mu.Unlock()
		bumped++
	}
	if bumped == 0 {
		http.NotFound(w, r)
		return
	}
	fmt.Fprintf(w, "{\"bumped\": %d}\n", bumped)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	repos := flag.Int("repos", 2000, "repositories fleet/app-0000...")
	tags := flag.Int("tags", 1000, "tags per repository")
	pageCap := flag.Int("page-cap", 1000, "most tags per page, whatever n asks")
	token := flag.Bool("token", true, "require bearer tokens (the token flow)")
	portFile := flag.String("port-file", "", "write the port here once listening")
	flag.Parse()
	if !strings.HasPrefix(*addr, "127.0.0.1:") {
		log.Fatal("fleet-registry listens on 127.0.0.1 only")
	}
	s := &server{repos: make(map[string]*repository, *repos), pageCap: max(1, *pageCap), token: *token}
	for i := 0; i < *repos; i++ {
		list := baseTags(i, *tags)
		sort.Strings(list)
		s.repos[fmt.Sprintf("fleet/app-%04d", i)] = &repository{tags: list, base: len(list)}
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile+".tmp", []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*portFile+".tmp", *portFile); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("fleet-registry: %d repositories x %d tags on 127.0.0.1:%d (page cap %d, token %v)", *repos, *tags, port, *pageCap, *token)
	log.Fatal(http.Serve(listener, s))
}
