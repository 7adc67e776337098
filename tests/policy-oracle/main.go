// Command policy-oracle answers what Flux's image-reflector-controller picks
// for a tag list and an ImagePolicy, so that tagpilot's policy engine can be
// compared with it on many random cases (tests/policy_vs_flux).
//
// It uses the same libraries as the controller (fluxcd/pkg/version and
// Masterminds/semver v3.5, pinned in go.mod) and repeats the controller's
// glue: the ImageRepository exclusion list, the filterTags regex and extract
// template (a map from value to tag, so a later tag with the same value
// wins), and the three orderings. The controller's policy package is
// internal, so its few lines of glue are rewritten here.
//
// Input: one JSON request per line on stdin. Output: one JSON answer per line.
//
//	{"tags": [...], "exclusionList": [...], "filterTags": {"pattern": "", "extract": ""},
//	 "policy": {"semver": {"range": ">=1"}} | {"numerical": {"order": "asc"}} | {"alphabetical": {"order": "desc"}}}
//
// An answer carries Flux's pick (or its error, classified), how many tags
// each step dropped (with Go's parsers and the range's Check), plus what a
// deterministic implementation may pick instead: "ties" lists every tag whose
// value ranks equal to Flux's pick (Flux breaks such ties by list or map
// order). For a numerical policy where some value is not a number (Flux fails
// the policy) or is NaN (Flux's pick then depends on the order), "numbersOnly"
// is the same answer computed over the values that are numbers.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/version"
)

type filterTags struct {
	Pattern string `json:"pattern"`
	Extract string `json:"extract"`
}

type orderChoice struct {
	Order string `json:"order"`
}

type semverChoice struct {
	Range string `json:"range"`
}

type policyChoice struct {
	SemVer       *semverChoice `json:"semver"`
	Numerical    *orderChoice  `json:"numerical"`
	Alphabetical *orderChoice  `json:"alphabetical"`
}

type request struct {
	Tags          []string     `json:"tags"`
	ExclusionList []string     `json:"exclusionList"`
	FilterTags    *filterTags  `json:"filterTags"`
	Policy        policyChoice `json:"policy"`
}

// Error kinds, as the Rust test matches them.
const (
	kindInvalidExclusion = "invalidExclusion"
	kindInvalidPolicy    = "invalidPolicy"
	kindEmpty            = "empty"      // no value reached the ordering
	kindNoVersion        = "noVersion"  // semver: no value is a version in the range
	kindNotANumber       = "notANumber" // numerical: some value is not a number
)

type answer struct {
	Latest      *string  `json:"latest"`
	Error       string   `json:"error,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Ties        []string `json:"ties"`
	Counts      *counts  `json:"counts,omitempty"`
	NumbersOnly *answer  `json:"numbersOnly,omitempty"`
}

// counts: how many tags each step saw and dropped, for a valid policy.
type counts struct {
	Tags            int `json:"tags"`
	Excluded        int `json:"excluded"`
	PatternMismatch int `json:"patternMismatch"`
	NotAValue       int `json:"notAValue"`
	OutOfRange      int `json:"outOfRange"`
	Candidates      int `json:"candidates"`
}

var (
	errEmpty      = errors.New("version list argument cannot be empty")
	errNoVersion  = errors.New("unable to determine latest version from provided list")
	errNotANumber = errors.New("failed to parse invalid numeric value")
)

// ordering is one of the three policies: it picks the latest value and says
// whether two values rank the same.
type ordering interface {
	latest(values []string) (string, error)
	sameRank(value, latest string) bool
	// classify: "" for a candidate, or "notAValue" or "outOfRange".
	classify(value string) string
}

type semverOrdering struct{ constraint *semver.Constraints }

func (p semverOrdering) latest(values []string) (string, error) {
	if len(values) == 0 {
		return "", errEmpty
	}
	var best *semver.Version
	for _, value := range values {
		v, err := version.ParseVersion(value)
		if err != nil {
			continue
		}
		if p.constraint.Check(v) && (best == nil || v.GreaterThan(best)) {
			best = v
		}
	}
	if best == nil {
		return "", errNoVersion
	}
	return best.Original(), nil
}

func (p semverOrdering) sameRank(value, latest string) bool {
	v, err := version.ParseVersion(value)
	if err != nil || !p.constraint.Check(v) {
		return false
	}
	l, err := version.ParseVersion(latest)
	return err == nil && v.Compare(l) == 0
}

func (p semverOrdering) classify(value string) string {
	v, err := version.ParseVersion(value)
	if err != nil {
		return "notAValue"
	}
	if !p.constraint.Check(v) {
		return "outOfRange"
	}
	return ""
}

type numericalOrdering struct{ descending bool }

func (p numericalOrdering) latest(values []string) (string, error) {
	if len(values) == 0 {
		return "", errEmpty
	}
	var latest string
	var best float64
	for i, value := range values {
		number, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return "", fmt.Errorf("%w '%s'", errNotANumber, value)
		}
		// Flux keeps the later of two equal values, and compares with < and >
		// only (so a NaN always takes over).
		if i > 0 && ((!p.descending && number < best) || (p.descending && number > best)) {
			continue
		}
		latest, best = value, number
	}
	return latest, nil
}

func (p numericalOrdering) sameRank(value, latest string) bool {
	a, errA := strconv.ParseFloat(value, 64)
	b, errB := strconv.ParseFloat(latest, 64)
	return errA == nil && errB == nil && a == b
}

func (p numericalOrdering) classify(value string) string {
	if !isNumber(value) {
		return "notAValue"
	}
	return ""
}

type alphabeticalOrdering struct{ descending bool }

func (p alphabeticalOrdering) latest(values []string) (string, error) {
	if len(values) == 0 {
		return "", errEmpty
	}
	sorted := sort.StringSlice(append([]string(nil), values...))
	if p.descending {
		sort.Sort(sorted)
	} else {
		sort.Sort(sort.Reverse(sorted))
	}
	return sorted[0], nil
}

func (p alphabeticalOrdering) sameRank(value, latest string) bool { return value == latest }

func (p alphabeticalOrdering) classify(string) string { return "" }

// orderingFromSpec validates the policy choice as the controller does
// (orders are upper-cased, then must be ASC, DESC or empty).
func orderingFromSpec(choice policyChoice) (ordering, error) {
	direction := func(order string) (bool, error) {
		switch strings.ToUpper(order) {
		case "", "ASC":
			return false, nil
		case "DESC":
			return true, nil
		}
		return false, fmt.Errorf("invalid order argument provided: '%s'", order)
	}
	switch {
	case choice.SemVer != nil:
		constraint, err := semver.NewConstraint(choice.SemVer.Range)
		if err != nil {
			return nil, err
		}
		return semverOrdering{constraint}, nil
	case choice.Alphabetical != nil:
		descending, err := direction(choice.Alphabetical.Order)
		return alphabeticalOrdering{descending}, err
	case choice.Numerical != nil:
		descending, err := direction(choice.Numerical.Order)
		return numericalOrdering{descending}, err
	}
	return nil, errors.New("given ImagePolicyChoice object is invalid")
}

// candidate is a tag that passed the exclusion list and the filter, with the
// value the ordering sees.
type candidate struct{ value, tag string }

func evaluate(req request) answer {
	exclusions := req.ExclusionList
	if len(exclusions) == 0 {
		exclusions = []string{`^.*\.sig$`}
	}
	var excluded []*regexp.Regexp
	for _, pattern := range exclusions {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return failure(kindInvalidExclusion, err)
		}
		excluded = append(excluded, re)
	}
	var tags []string
	for _, tag := range req.Tags {
		keep := true
		for _, re := range excluded {
			if re.MatchString(tag) {
				keep = false
				break
			}
		}
		if keep {
			tags = append(tags, tag)
		}
	}

	policy, err := orderingFromSpec(req.Policy)
	if err != nil {
		return failure(kindInvalidPolicy, err)
	}

	// Without filterTags, values are the tags themselves, in list order.
	values := tags
	original := func(value string) string { return value }
	var candidates []candidate
	if req.FilterTags == nil {
		for _, tag := range tags {
			candidates = append(candidates, candidate{tag, tag})
		}
	} else {
		re, err := regexp.Compile(req.FilterTags.Pattern)
		if err != nil {
			return failure(kindInvalidPolicy, err)
		}
		byValue := map[string]string{}
		for _, tag := range tags {
			match := re.FindStringSubmatchIndex(tag)
			if len(match) == 0 {
				continue
			}
			value := tag
			if req.FilterTags.Extract != "" {
				value = string(re.ExpandString(nil, req.FilterTags.Extract, tag, match))
			}
			byValue[value] = tag
			candidates = append(candidates, candidate{value, tag})
		}
		values = nil
		for value := range byValue {
			values = append(values, value)
		}
		original = func(value string) string { return byValue[value] }
	}

	result := pick(policy, values, candidates, original)
	tally := counts{
		Tags:            len(req.Tags),
		Excluded:        len(req.Tags) - len(tags),
		PatternMismatch: len(tags) - len(candidates),
	}
	for _, c := range candidates {
		switch policy.classify(c.value) {
		case "notAValue":
			tally.NotAValue++
		case "outOfRange":
			tally.OutOfRange++
		default:
			tally.Candidates++
		}
	}
	result.Counts = &tally
	if _, numerical := policy.(numericalOrdering); numerical {
		var numbers []string
		var numberCandidates []candidate
		for _, value := range values {
			if isNumber(value) {
				numbers = append(numbers, value)
			}
		}
		for _, c := range candidates {
			if isNumber(c.value) {
				numberCandidates = append(numberCandidates, c)
			}
		}
		if len(numbers) != len(values) || len(numberCandidates) != len(candidates) {
			only := pick(policy, numbers, numberCandidates, original)
			result.NumbersOnly = &only
		}
	}
	return result
}

// isNumber: ParseFloat succeeds and the value is not NaN.
func isNumber(value string) bool {
	number, err := strconv.ParseFloat(value, 64)
	return err == nil && !math.IsNaN(number)
}

func pick(policy ordering, values []string, candidates []candidate, original func(string) string) answer {
	latest, err := policy.latest(values)
	if err != nil {
		kind := kindEmpty
		switch {
		case errors.Is(err, errNoVersion):
			kind = kindNoVersion
		case errors.Is(err, errNotANumber):
			kind = kindNotANumber
		}
		return failure(kind, err)
	}
	tag := original(latest)
	ties := []string{}
	for _, c := range candidates {
		if policy.sameRank(c.value, latest) {
			ties = append(ties, c.tag)
		}
	}
	return answer{Latest: &tag, Ties: ties}
}

func failure(kind string, err error) answer {
	return answer{Kind: kind, Error: err.Error(), Ties: []string{}}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "policy-oracle: bad request: %v\n", err)
			os.Exit(2)
		}
		if err := encoder.Encode(evaluate(req)); err != nil {
			fmt.Fprintf(os.Stderr, "policy-oracle: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "policy-oracle: reading stdin: %v\n", err)
		os.Exit(2)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(os.Stderr, "policy-oracle: %v\n", err)
		os.Exit(1)
	}
}
