// Package framework runs drover's real binaries as processes for end-to-end tests: it
// finds (or builds once) the binaries, wraps each daemon in a Process with its log in a
// file, starts whole clusters with `drover up`, and runs the real kubectl and helm
// against them. Tests drive the system only through real clients.
package framework
