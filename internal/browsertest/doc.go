// Package browsertest runs a real headless Chromium for end-to-end tests of the operator console
// (package console), driven over the DevTools protocol with chromedp.
//
// A missing Chromium fails the test with how to install it (Debian: apt-get install -y
// chromium), as a missing redis-server does: the suite never skips a real part. The browser runs
// with a fresh profile and without any of its background traffic to Google's hosts (the closed
// networks engines run on refuse it), in its own process group; when the test ends the group is
// killed and the test fails if any process of that profile is left.
package browsertest
