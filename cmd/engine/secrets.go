package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/placeos-go/engine/model"
)

// readSecrets reads the secrets given as files into the options, refuses a secret given twice,
// and notes what deserves a warning: a secret typed on the command line (any user sees it in ps
// and /proc/<pid>/cmdline) and a secret file that others may read.
func (o *options) readSecrets(fs *flag.FlagSet) error {
	for _, s := range []struct {
		name  string
		value *string
		file  string
	}{
		{"cluster-secret", &o.ClusterSecret, o.ClusterSecretFile},
		{"jwt-secret", &o.JWTSecret, o.JWTSecretFile},
	} {
		if s.file == "" {
			continue
		}
		if *s.value != "" {
			env := "ENGINE_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
			return fmt.Errorf("give the %s once: --%s (or %s) or --%s-file, not both", strings.ReplaceAll(s.name, "-", " "), s.name, env, s.name)
		}
		data, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("--%s-file: %w", s.name, err)
		}
		// Surrounding white space (the newline an editor adds) is not part of the secret.
		if *s.value = strings.TrimSpace(string(data)); *s.value == "" {
			return fmt.Errorf("--%s-file %s is empty", s.name, s.file)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "cluster-secret" || f.Name == "jwt-secret" {
			o.secretWarnings = append(o.secretWarnings, fmt.Sprintf(
				"--%s was given on the command line, where every user of this machine (and every driver) can read it in ps or /proc; use --%s-file or ENGINE_%s",
				f.Name, f.Name, strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))))
		}
	})
	for _, f := range []struct{ flag, path string }{
		{"cluster-secret-file", o.ClusterSecretFile}, {"jwt-secret-file", o.JWTSecretFile}, {"secrets-key-file", o.SecretsKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err == nil && st.Mode().Perm()&0o077 != 0 {
			o.secretWarnings = append(o.secretWarnings, fmt.Sprintf("--%s %s is readable by other users (mode %v); chmod 600 it", f.flag, f.path, st.Mode().Perm()))
		}
	}
	return nil
}

// loadKeyring reads --secrets-key-file; without one the node refuses protected settings.
func loadKeyring(path string) (*model.Keyring, error) {
	if path == "" {
		return nil, nil
	}
	k, err := model.LoadKeyring(path)
	if err != nil {
		return nil, fmt.Errorf("--secrets-key-file: %w", err)
	}
	return k, nil
}

// secrets runs `engine secrets init --out FILE`: a new key for --secrets-key-file, written only
// by the owner's read and write (and never over an existing file, which may be a cluster's key).
func secrets(args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: engine secrets init --out FILE")
	}
	fs := flag.NewFlagSet("engine secrets init", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the new key to (it must not exist)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: engine secrets init --out FILE")
	}
	content, err := model.NewKeyFile()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("secrets init: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return fmt.Errorf("secrets init: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("secrets init: %w", err)
	}
	k, err := model.LoadKeyring(*out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote secrets key %s to %s: give every node of the cluster a copy (--secrets-key-file), and keep one safe — protected settings cannot be read without it\n", k.ID(), *out)
	return nil
}
