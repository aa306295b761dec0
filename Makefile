# tdefs: build, install and uninstall.
#
#   make                      # release build (swift build -c release --static-swift-stdlib) and the man page
#   sudo make install         # binary, mount helper, systemd units, man page, docs
#   sudo make uninstall       # removes exactly what install put there (never /etc/tdefs)
#   make check-units          # systemd-analyze verify of every unit and drop-in
#
# Variables: PREFIX (/usr/local), DESTDIR (staging root for packages), SWIFT (swift),
# SCRATCH (SwiftPM scratch path, .build), UNITDIR, SBINDIR (mount helpers: /sbin, where mount(8)
# looks for mount.fuse.tdefs).

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= /sbin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/tdefs
DOCDIR     ?= $(PREFIX)/share/doc/tdefs
UNITDIR    ?= $(PREFIX)/lib/systemd/system
CONFDIR    ?= /etc/tdefs
SWIFT      ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
SCRATCH    ?= .build
MANSECTION := 8

BUILT_BIN   = $(SCRATCH)/release/tdefs
BUILT_MAN   = $(SCRATCH)/man/tdefs.$(MANSECTION)
DROPINS     = postgresql@.service.d mariadb.service.d redis-server.service.d
EXAMPLES    = volume.conf credential.conf kms-network.conf
DOCS        = operations.md cli.md exit-codes.md format.md

.PHONY: all build man install uninstall check-units clean-man

all: build man

build: $(BUILT_BIN)

$(BUILT_BIN): Package.swift $(shell find Sources -type f 2>/dev/null)
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(SCRATCH) --product tdefs

# The man page comes from the command line's own help (swift-argument-parser's generate-manual).
man: $(BUILT_MAN)

$(BUILT_MAN): Package.swift $(shell find Sources/tdefs -type f 2>/dev/null)
	@mkdir -p $(SCRATCH)/man
	$(SWIFT) package --scratch-path $(SCRATCH) --allow-writing-to-directory $(SCRATCH)/man \
	    generate-manual --output-directory $(SCRATCH)/man --section $(MANSECTION) --authors "the tdefs authors"
	@test -s $@

install: $(BUILT_BIN) $(BUILT_MAN)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(MANDIR)/man$(MANSECTION) $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILT_BIN) $(DESTDIR)$(BINDIR)/tdefs
	sed 's|@TDEFS_BIN@|$(BINDIR)/tdefs|' scripts/mount.fuse.tdefs > $(DESTDIR)$(SBINDIR)/mount.fuse.tdefs
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.fuse.tdefs
	sed -e 's|/usr/local/bin/tdefs|$(BINDIR)/tdefs|g' \
	    -e 's|file:///usr/local/share/doc/tdefs/|file://$(DOCDIR)/|g' \
	    systemd/tdefs@.service > $(DESTDIR)$(UNITDIR)/tdefs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tdefs@.service
	gzip -9n < $(BUILT_MAN) > $(DESTDIR)$(MANDIR)/man$(MANSECTION)/tdefs.$(MANSECTION).gz
	for d in $(DROPINS); do \
	    install -D -m 0644 systemd/dropins/$$d/tdefs.conf $(DESTDIR)$(DATADIR)/dropins/$$d/tdefs.conf || exit 1; \
	done
	for f in $(EXAMPLES); do install -m 0644 systemd/examples/$$f $(DESTDIR)$(DATADIR)/examples/$$f || exit 1; done
	for f in $(DOCS); do if [ -f docs/$$f ]; then install -m 0644 docs/$$f $(DESTDIR)$(DOCDIR)/$$f || exit 1; fi; done
	install -d -m 0700 $(DESTDIR)$(CONFDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "tdefs installed. Next: docs/operations.md ($(DOCDIR)/operations.md)."

# Leaves $(CONFDIR) (volume files, keys) and any drop-ins you copied to /etc/systemd/system alone.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tdefs $(DESTDIR)$(SBINDIR)/mount.fuse.tdefs \
	    $(DESTDIR)$(UNITDIR)/tdefs@.service $(DESTDIR)$(MANDIR)/man$(MANSECTION)/tdefs.$(MANSECTION).gz
	for d in $(DROPINS); do rm -f $(DESTDIR)$(DATADIR)/dropins/$$d/tdefs.conf; \
	    rmdir $(DESTDIR)$(DATADIR)/dropins/$$d 2>/dev/null || true; done
	for f in $(EXAMPLES); do rm -f $(DESTDIR)$(DATADIR)/examples/$$f; done
	for f in $(DOCS); do rm -f $(DESTDIR)$(DOCDIR)/$$f; done
	-rmdir $(DESTDIR)$(DATADIR)/dropins $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@if [ -d $(DESTDIR)$(CONFDIR) ]; then echo "kept $(CONFDIR) (volume files and keys)"; fi

# Every unit and drop-in through systemd-analyze verify, with the binary path pointing at the
# build, or /bin/true before a build (verify insists that ExecStart's program exists), and an
# instance of the template. Stand-in units take the database drop-ins.
check-units:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	bin=$(abspath $(BUILT_BIN)); [ -x "$$bin" ] || bin=/bin/true; \
	sed "s|/usr/local/bin/tdefs|$$bin|" systemd/tdefs@.service > $$tmp/tdefs@.service; \
	ln -s tdefs@.service $$tmp/tdefs@check.service; \
	units="$$tmp/tdefs@check.service"; \
	for d in $(DROPINS); do \
	    unit=$${d%.d}; \
	    printf '[Unit]\nDescription=stand-in for %s\n[Service]\nType=oneshot\nExecStart=/bin/true\n' $$unit > $$tmp/$$unit; \
	    cp -r systemd/dropins/$$d $$tmp/; \
	    case $$unit in *@.service) ln -s $$unit $$tmp/$${unit%@.service}@check.service; \
	        unit=$${unit%@.service}@check.service;; esac; \
	    units="$$units $$tmp/$$unit"; \
	done; \
	systemd-analyze verify --man=no $$units; echo "check-units: all units verified"
