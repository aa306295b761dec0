# tdefs: build, install and uninstall, and the Debian package.
#
#   make                      # release build (swift build -c release --static-swift-stdlib), man page, completions
#   sudo make install         # binary, mount helper, systemd units, man page, completions, docs
#   sudo make uninstall       # removes exactly what install put there (never /etc/tdefs)
#   make deb                  # the Debian package (debian/, dpkg-buildpackage) in $(SCRATCH)/deb/
#   make check-units          # systemd-analyze verify of every unit and drop-in
#
# Variables: PREFIX (/usr/local), DESTDIR (staging root for packages), SWIFT (swift),
# SCRATCH (SwiftPM scratch path, .build), UNITDIR, SBINDIR (mount helpers: /sbin, where mount(8)
# looks for mount.fuse.tdefs), BASHCOMPDIR, ZSHCOMPDIR, LICENSE_LINK (what README's link to the
# licence points at in DOCDIR: LICENSE, installed there, or the package's copyright file).

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= /sbin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/tdefs
DOCDIR     ?= $(PREFIX)/share/doc/tdefs
UNITDIR    ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
CONFDIR    ?= /etc/tdefs
LICENSE_LINK ?= LICENSE
DEBDIR     ?= $(SCRATCH)/deb
SWIFT      ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
SCRATCH    ?= .build
MANSECTION := 8

BUILT_BIN   = $(SCRATCH)/release/tdefs
BUILT_MAN   = $(SCRATCH)/man/tdefs.$(MANSECTION)
MANPAGES    = tdefs.$(MANSECTION) mount.fuse.tdefs.$(MANSECTION)
BUILT_COMPLETIONS = $(SCRATCH)/completions/tdefs.bash $(SCRATCH)/completions/_tdefs
DROPINS     = postgresql@.service.d mariadb.service.d redis-server.service.d
EXAMPLES    = volume.conf credential.conf kms-network.conf
# Every page of docs/ (they link to one another), and README.md with its links made relative to DOCDIR.
DOCS        = $(notdir $(wildcard docs/*.md docs/*.png))
# The man page's date: that of the package's changelog when dpkg builds it, else today.
MANDATE    := $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(date +%s)} +%Y-%m-%d)

.PHONY: all build man completions install uninstall deb check-units FORCE

all: build man completions

build: $(BUILT_BIN)

$(BUILT_BIN): Package.swift Package.resolved $(shell find Sources -type f 2>/dev/null)
	$(SWIFT) build -c release --static-swift-stdlib --force-resolved-versions --scratch-path $(SCRATCH) --product tdefs

# The man page comes from the command line's own help: swift-argument-parser's generate-manual
# (built like the release binary, so nothing of it is rebuilt) reads it from the release binary
# itself; scripts/man-page.sh completes it with ENVIRONMENT, FILES, EXIT STATUS and SEE ALSO
# (from man/, docs/exit-codes.md and the code).
man: $(BUILT_MAN)

GENERATE_MANUAL = $(SCRATCH)/release/generate-manual
GENERATED_MAN = $(SCRATCH)/man/generated/tdefs.$(MANSECTION)
$(GENERATE_MANUAL): Package.swift Package.resolved
	$(SWIFT) build -c release --static-swift-stdlib --force-resolved-versions --scratch-path $(SCRATCH) --product generate-manual

$(GENERATED_MAN): $(BUILT_BIN) $(GENERATE_MANUAL)
	@mkdir -p $(@D)
	$(GENERATE_MANUAL) $(BUILT_BIN) --output-directory $(@D) --section $(MANSECTION) --date $(MANDATE) \
	    --authors "the tdefs authors"
	@test -s $@

# Always assembled (it takes a moment): the install paths in it are this make's. Writes the
# helper's page, mount.fuse.tdefs.8, beside it.
$(BUILT_MAN): $(GENERATED_MAN) FORCE
	BINDIR=$(BINDIR) SBINDIR=$(SBINDIR) UNITDIR=$(UNITDIR) DATADIR=$(DATADIR) DOCDIR=$(DOCDIR) \
	    CONFDIR=$(CONFDIR) MANDATE=$(MANDATE) TDEFS_MAN_BIN=$(BUILT_BIN) bash scripts/man-page.sh $(GENERATED_MAN) $(@D)

FORCE:

# Shell completions, from the release binary (swift-argument-parser).
completions: $(BUILT_COMPLETIONS)

$(SCRATCH)/completions/tdefs.bash: $(BUILT_BIN)
	@mkdir -p $(@D)
	$(BUILT_BIN) --generate-completion-script bash | sed '1{/^#!/d}' > $@.tmp && mv $@.tmp $@

$(SCRATCH)/completions/_tdefs: $(BUILT_BIN)
	@mkdir -p $(@D)
	$(BUILT_BIN) --generate-completion-script zsh > $@.tmp && mv $@.tmp $@

install: $(BUILT_BIN) $(BUILT_MAN) $(BUILT_COMPLETIONS)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(MANDIR)/man$(MANSECTION) $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 $(BUILT_BIN) $(DESTDIR)$(BINDIR)/tdefs
	sed 's|@TDEFS_BIN@|$(BINDIR)/tdefs|' scripts/mount.fuse.tdefs > $(DESTDIR)$(SBINDIR)/mount.fuse.tdefs
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.fuse.tdefs
	sed -e 's|/usr/local/bin/tdefs|$(BINDIR)/tdefs|g' \
	    -e 's|file:///usr/local/share/doc/tdefs/|file://$(DOCDIR)/|g' \
	    systemd/tdefs@.service > $(DESTDIR)$(UNITDIR)/tdefs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/tdefs@.service
	for m in $(MANPAGES); do gzip -9n < $(SCRATCH)/man/$$m > $(DESTDIR)$(MANDIR)/man$(MANSECTION)/$$m.gz || exit 1; done
	for d in $(DROPINS); do \
	    install -D -m 0644 systemd/dropins/$$d/tdefs.conf $(DESTDIR)$(DATADIR)/dropins/$$d/tdefs.conf || exit 1; \
	done
	for f in $(EXAMPLES); do install -m 0644 systemd/examples/$$f $(DESTDIR)$(DATADIR)/examples/$$f || exit 1; done
	install -m 0644 $(SCRATCH)/completions/tdefs.bash $(DESTDIR)$(BASHCOMPDIR)/tdefs
	install -m 0644 $(SCRATCH)/completions/_tdefs $(DESTDIR)$(ZSHCOMPDIR)/_tdefs
	for f in $(DOCS); do install -m 0644 docs/$$f $(DESTDIR)$(DOCDIR)/$$f || exit 1; done
	sed -e 's|](docs/|](|g' -e 's|](LICENSE)|]($(LICENSE_LINK))|g' README.md > $(DESTDIR)$(DOCDIR)/README.md
	chmod 0644 $(DESTDIR)$(DOCDIR)/README.md
	if [ "$(LICENSE_LINK)" = LICENSE ]; then install -m 0644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE; fi
	install -d -m 0700 $(DESTDIR)$(CONFDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "tdefs installed. Next: docs/operations.md ($(DOCDIR)/operations.md)."

# Leaves $(CONFDIR) (volume files, keys) and any drop-ins you copied to /etc/systemd/system alone.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tdefs $(DESTDIR)$(SBINDIR)/mount.fuse.tdefs \
	    $(DESTDIR)$(UNITDIR)/tdefs@.service $(addprefix $(DESTDIR)$(MANDIR)/man$(MANSECTION)/,$(addsuffix .gz,$(MANPAGES))) \
	    $(DESTDIR)$(BASHCOMPDIR)/tdefs $(DESTDIR)$(ZSHCOMPDIR)/_tdefs
	for d in $(DROPINS); do rm -f $(DESTDIR)$(DATADIR)/dropins/$$d/tdefs.conf; \
	    rmdir $(DESTDIR)$(DATADIR)/dropins/$$d 2>/dev/null || true; done
	for f in $(EXAMPLES); do rm -f $(DESTDIR)$(DATADIR)/examples/$$f; done
	for f in $(DOCS) README.md LICENSE; do rm -f $(DESTDIR)$(DOCDIR)/$$f; done
	-rmdir $(DESTDIR)$(DATADIR)/dropins $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@if [ -d $(DESTDIR)$(CONFDIR) ]; then echo "kept $(CONFDIR) (volume files and keys)"; fi

# The Debian package, built by debian/rules from this Makefile (PREFIX=/usr, units in
# /lib/systemd/system) with the release build above reused when it is current. dpkg-buildpackage
# writes the .deb, .buildinfo and .changes into $(DEBDIR) rather than the parent directory.
deb:
	@mkdir -p $(DEBDIR)
	rm -f $(DEBDIR)/tdefs_* $(DEBDIR)/tdefs-dbgsym_*
	TDEFS_DEBDIR=$(abspath $(DEBDIR)) SWIFT=$(SWIFT) SCRATCH=$(SCRATCH) dpkg-buildpackage -b -us -uc \
	    --buildinfo-option=-u$(abspath $(DEBDIR)) --buildinfo-file=$(abspath $(DEBDIR))/tdefs.buildinfo \
	    --changes-option=-u$(abspath $(DEBDIR)) --changes-file=$(abspath $(DEBDIR))/tdefs.changes
	@ls $(DEBDIR)/tdefs_*.deb

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
