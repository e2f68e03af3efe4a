package defaults

import (
	"regexp"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// defaultPullPolicy is the pull policy Kubernetes gives an image that sets none:
// Always when the reference means ":latest" (an explicit latest tag, or neither tag
// nor digest), IfNotPresent otherwise. A reference that does not parse also gets
// IfNotPresent; validation reports it.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if tag, ok := imageTag(image); ok && tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// The repository path, without the registry host, is capped.
const maxRepositoryPathLength = 255

// imageRegexps are compiled on first use: every process of the drover
// binary links this package, and only the apiserver defaults pods.
var imageRegexps = sync.OnceValue(compileImageGrammar)

type imageGrammar struct {
	// reference splits a reference into name, tag and digest; nameParts
	// splits the name into registry host and repository path.
	reference, nameParts *regexp.Regexp
	// A bare image ID is refused, so it is never mistaken for a repository name.
	id           *regexp.Regexp
	lowercaseHex *regexp.Regexp
}

// Digest algorithms a Kubernetes binary can verify, with their lowercase hex lengths.
var digestHexLength = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// compileImageGrammar compiles the image reference grammar of
// github.com/distribution/reference, which kube-apiserver uses to decide on
// the pull policy. Only whether a reference parses and what its tag is
// matter here, but both depend on the whole grammar: an invalid digest or
// an uppercase path makes "nginx:latest@..." IfNotPresent.
func compileImageGrammar() *imageGrammar {
	const (
		alphanumeric    = `[a-z0-9]+`
		separator       = `(?:[._]|__|[-]+)`
		pathComponent   = alphanumeric + `(?:` + separator + alphanumeric + `)*`
		repositoryPath  = pathComponent + `(?:/` + pathComponent + `)*`
		domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domainName      = domainComponent + `(?:\.` + domainComponent + `)*`
		ipv6Address     = `\[(?:[a-fA-F0-9:]+)\]`
		domainAndPort   = `(?:` + domainName + `|` + ipv6Address + `)(?::[0-9]+)?`
		imageName       = `(?:` + domainAndPort + `/)?` + repositoryPath
		tag             = `[\w][\w.-]{0,127}`
		digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
	)
	return &imageGrammar{
		reference:    regexp.MustCompile(`^(` + imageName + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`),
		nameParts:    regexp.MustCompile(`^(?:(` + domainAndPort + `)/)?(` + repositoryPath + `)$`),
		id:           regexp.MustCompile(`^[a-f0-9]{64}$`),
		lowercaseHex: regexp.MustCompile(`^[a-f0-9]+$`),
	}
}

// imageTag returns the tag of an image reference, "latest" when the reference names
// neither a tag nor a digest, and false when it does not parse.
func imageTag(image string) (string, bool) {
	g := imageRegexps()
	if g.id.MatchString(image) {
		return "", false
	}
	domain, remainder := splitImageDomain(image)
	repository, _, _ := strings.Cut(remainder, ":")
	if strings.ToLower(repository) != repository {
		return "", false
	}
	m := g.reference.FindStringSubmatch(domain + "/" + remainder)
	if m == nil || len(g.nameParts.FindStringSubmatch(m[1])[2]) > maxRepositoryPathLength {
		return "", false
	}
	tag, digest := m[2], m[3]
	if digest != "" && !validDigest(digest) {
		return "", false
	}
	if tag == "" && digest == "" {
		return "latest", true
	}
	return tag, true
}

// splitImageDomain splits off the registry host the way Docker does: the first path
// element is a host only if it looks like one, and Docker Hub names are completed.
func splitImageDomain(image string) (domain, remainder string) {
	first, rest, found := strings.Cut(image, "/")
	looksLikeHost := first == "localhost" || strings.ContainsAny(first, ".:") || strings.ToLower(first) != first
	switch {
	case found && first == "index.docker.io":
		domain, remainder = "docker.io", rest
	case found && looksLikeHost:
		domain, remainder = first, rest
	default:
		domain, remainder = "docker.io", image
	}
	if domain == "docker.io" && !strings.Contains(remainder, "/") {
		remainder = "library/" + remainder
	}
	return domain, remainder
}

func validDigest(digest string) bool {
	algorithm, hex, _ := strings.Cut(digest, ":")
	length, known := digestHexLength[algorithm]
	return known && len(hex) == length && imageRegexps().lowercaseHex.MatchString(hex)
}
