package builder

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"sigs.k8s.io/yaml"

	"github.com/placeos-go/engine/model"
)

// Credential gives access to private repositories. Secrets are never held in the config: they
// are read from files each time they are used (so a rotated token applies at the next fetch)
// and never logged.
type Credential struct {
	// Repository is the id of the repository this applies to; or
	Repository string `json:"repository,omitempty"`
	// URIPrefix matches every repository whose URI starts with it (e.g. https://github.com/acme/).
	URIPrefix string `json:"uri_prefix,omitempty"`

	// Username for HTTP basic auth (default "x-access-token", which GitHub and GitLab accept
	// with a token) or the SSH user (default "git").
	Username string `json:"username,omitempty"`
	// TokenFile holds an HTTP token or password.
	TokenFile string `json:"token_file,omitempty"`
	// SSHKeyFile holds a PEM private key; SSHKeyPassphraseFile its passphrase, if any.
	SSHKeyFile           string `json:"ssh_key_file,omitempty"`
	SSHKeyPassphraseFile string `json:"ssh_key_passphrase_file,omitempty"`
	// KnownHostsFile pins SSH host keys; default: SSH_KNOWN_HOSTS or ~/.ssh/known_hosts.
	KnownHostsFile string `json:"known_hosts_file,omitempty"`
}

// String never shows secrets (only file names), so a Credential is safe in a log line.
func (c Credential) String() string {
	return fmt.Sprintf("credential{repository=%q uri_prefix=%q token_file=%q ssh_key_file=%q}",
		c.Repository, c.URIPrefix, c.TokenFile, c.SSHKeyFile)
}

func (c Credential) matches(r model.Repository) bool {
	return (c.Repository != "" && c.Repository == r.ID) ||
		(c.URIPrefix != "" && strings.HasPrefix(r.URI, c.URIPrefix))
}

// LoadCredentials reads a YAML (or JSON) list of Credential, e.g.
//
//   - repository: acme-drivers
//     token_file: /etc/engine/github-token
//   - uri_prefix: git@github.com:acme/
//     ssh_key_file: /etc/engine/id_ed25519
func LoadCredentials(path string) ([]Credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("builder: credentials: %w", err)
	}
	var creds []Credential
	if err := yaml.UnmarshalStrict(data, &creds); err != nil {
		return nil, fmt.Errorf("builder: credentials %s: %w", path, err)
	}
	for i, c := range creds {
		switch {
		case c.Repository == "" && c.URIPrefix == "":
			return nil, fmt.Errorf("builder: credentials %s: entry %d: repository or uri_prefix is required", path, i)
		case c.TokenFile == "" && c.SSHKeyFile == "":
			return nil, fmt.Errorf("builder: credentials %s: entry %d: token_file or ssh_key_file is required", path, i)
		}
	}
	return creds, nil
}

// auth builds the go-git auth method for r, or nil for public repositories.
func (b *Builder) auth(r model.Repository) (transport.AuthMethod, error) {
	for _, c := range b.cfg.Credentials {
		if !c.matches(r) {
			continue
		}
		if c.SSHKeyFile != "" {
			user := c.Username
			if user == "" {
				user = "git"
			}
			pass := ""
			if c.SSHKeyPassphraseFile != "" {
				p, err := readSecret(c.SSHKeyPassphraseFile)
				if err != nil {
					return nil, err
				}
				pass = p
			}
			keys, err := gitssh.NewPublicKeysFromFile(user, c.SSHKeyFile, pass)
			if err != nil {
				// The go-git error names the file, never its content.
				return nil, fmt.Errorf("ssh key %s: %w", c.SSHKeyFile, err)
			}
			if c.KnownHostsFile != "" {
				cb, err := gitssh.NewKnownHostsCallback(c.KnownHostsFile)
				if err != nil {
					return nil, fmt.Errorf("known hosts %s: %w", c.KnownHostsFile, err)
				}
				keys.HostKeyCallback = cb
			}
			return keys, nil
		}
		token, err := readSecret(c.TokenFile)
		if err != nil {
			return nil, err
		}
		user := c.Username
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: token}, nil
	}
	return nil, nil
}

func readSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("credential file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
