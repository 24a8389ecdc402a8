package model

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// KeySize is the length of a secrets key: AES-256.
const KeySize = 32

// sealedPrefix starts every sealed value. The version lets a later format live beside this one;
// the key id that follows lets a later version hold several keys (rotation) and lets a node tell
// "sealed with another key" from "corrupt".
const sealedPrefix = "sealed:v1:"

// Keyring seals and opens protected setting values with the cluster's secrets key (AES-256-GCM,
// a random nonce per value). Every node of a cluster needs the same key. A nil *Keyring is a node
// without a key: it refuses to seal or open, with ErrNoSecretsKey. Safe for concurrent use.
type Keyring struct {
	id   string
	aead cipher.AEAD
}

// NewKeyring returns a keyring for a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: a secrets key is %d bytes, not %d", ErrSecretsKey, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretsKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretsKey, err)
	}
	// The id names the key without revealing it: a hash of it under a label of our own.
	sum := sha256.Sum256(append([]byte("engine secrets key id\x00"), key...))
	return &Keyring{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// LoadKeyring reads a key file: the key as 64 hexadecimal digits (surrounding white space is
// ignored), as NewKeyFile writes it.
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretsKey, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("%w: %s must hold %d random bytes as %d hexadecimal digits (engine secrets init writes one)",
			ErrSecretsKey, path, KeySize, 2*KeySize)
	}
	return NewKeyring(key)
}

// NewKeyFile returns the content of a new key file: 32 random bytes as hexadecimal, one line.
func NewKeyFile() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretsKey, err)
	}
	return []byte(hex.EncodeToString(key) + "\n"), nil
}

// ID names the key (8 hexadecimal digits of a hash of it); sealed values carry it.
func (k *Keyring) ID() string {
	if k == nil {
		return ""
	}
	return k.id
}

// seal encrypts plaintext, bound to aad (where the value lives: see valueAAD), into
// "sealed:v1:<key id>:<base64url(nonce ‖ ciphertext)>".
func (k *Keyring) seal(aad string, plaintext []byte) (string, error) {
	if k == nil {
		return "", ErrNoSecretsKey
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecretsKey, err)
	}
	out := k.aead.Seal(nonce, nonce, plaintext, []byte(aad))
	return sealedPrefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// open decrypts a value seal made for the same aad.
func (k *Keyring) open(aad, sealed string) ([]byte, error) {
	kid, data, err := parseSealed(sealed)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, fmt.Errorf("%w: the value is sealed with key %s", ErrNoSecretsKey, kid)
	}
	if kid != k.id {
		return nil, fmt.Errorf("%w: sealed with key %s, this node's key is %s (every node needs the same secrets key)", ErrSecretsKey, kid, k.id)
	}
	ns := k.aead.NonceSize()
	if len(data) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed value too short", ErrSecretsKey)
	}
	plain, err := k.aead.Open(nil, data[:ns], data[ns:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: the value does not open with key %s (corrupt, or moved from elsewhere)", ErrSecretsKey, k.id)
	}
	return plain, nil
}

// parseSealed splits a sealed value into its key id and nonce ‖ ciphertext.
func parseSealed(s string) (kid string, data []byte, err error) {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: not a sealed value", ErrSecretsKey)
	}
	kid, enc, ok := strings.Cut(rest, ":")
	if !ok || kid == "" {
		return "", nil, fmt.Errorf("%w: sealed value without a key id", ErrSecretsKey)
	}
	if data, err = base64.RawURLEncoding.DecodeString(enc); err != nil {
		return "", nil, fmt.Errorf("%w: sealed value: %w", ErrSecretsKey, err)
	}
	return kid, data, nil
}

// valueAAD binds a sealed value to its place: the owner, the level and the key. A value copied
// into another entity, key or — above all — a lower level (where more callers could read it)
// does not open.
func valueAAD(kind Kind, id string, level Level, key string) string {
	return fmt.Sprintf("engine/v1\x00%s\x00%s\x00%s\x00%s", kind, id, level, key)
}

// SealedSize is the length of the JSON string a value of n bytes is stored as once sealed: what
// it costs the model, for bounds counted in stored bytes.
func SealedSize(n int) int {
	const idLen, nonceLen, tagLen = 8, 12, 16 // hex of 4 bytes (NewKeyring); AES-GCM's standard sizes
	return len(`"`+sealedPrefix) + idLen + len(":") + base64.RawURLEncoding.EncodedLen(nonceLen+n+tagLen) + len(`"`)
}
