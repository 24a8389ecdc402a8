package state

import (
	"strings"
	"testing"
)

// A URL naming a master gets go-redis's failover client with every sentinel; any other URL a
// plain client; neither error nor log line shows a password.
func TestNewClientFromURL(t *testing.T) {
	t.Parallel()
	plain, err := NewClient("redis://:secret@10.0.0.9:6390/3", "engine-n1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = plain.Close() }()
	if o := plain.Options(); o.Addr != "10.0.0.9:6390" || o.DB != 3 || o.ClientName != "engine-n1" || o.Password != "secret" {
		t.Fatalf("plain client options: %+v", o)
	}
	const sentinel = "redis://s1:26379/2?master_name=mymaster&addr=s2:26379&addr=s3:26379&password=datapw"
	if !SentinelURL(sentinel) || SentinelURL("redis://s1:6379/0") || SentinelURL("embedded") {
		t.Fatal("SentinelURL does not tell a master_name URL from the others")
	}
	fo, err := NewClient(sentinel, "engine-n1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fo.Close() }()
	// The failover client's own address is a placeholder: every connection asks the sentinels.
	if o := fo.Options(); o.Addr != "FailoverClient" || o.DB != 2 || o.ClientName != "engine-n1" || o.Password != "datapw" {
		t.Fatalf("failover client options: %+v", o)
	}

	for _, bad := range []string{
		"redis://user:topsecret@s1:26379/0?master_name=m&nonsense=1",
		"redis://user:topsecret@h:6379/0?nonsense=1",
		"redis://user:topsecret@h:6379/0?master_name=m&password=topsecret&addr=nohostport",
		"redis://user:topsecret@[bad/0",
	} {
		_, err := NewClient(bad, "")
		if err == nil {
			t.Fatalf("%s accepted", bad)
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
	for url, want := range map[string]string{
		"redis://user:pw@h:6379/0":                                   "redis://user:xxxxx@h:6379/0",
		"redis://s1:26379/0?master_name=m&password=pw&addr=s2:26379": "redis://s1:26379/0?addr=s2%3A26379&master_name=m&password=xxxxx",
		"redis://h:6379/0":                                           "redis://h:6379/0",
	} {
		if got := RedactURL(url); got != want {
			t.Errorf("RedactURL(%s) = %s, want %s", url, got, want)
		}
	}
}
