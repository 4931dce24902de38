/*
 * config/flags.h - the command line, kube-controller-manager style.
 *
 * One table describes every flag (name, group, type, default, help); parsing,
 * --help and the error messages all read it, so a flag cannot be documented one
 * way and parsed another. Strings point into argv or at the table's defaults:
 * nothing here allocates.
 */
#ifndef KL_CONFIG_FLAGS_H
#define KL_CONFIG_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "util/error.h"
#include "util/log.h"

struct kl_flags {
	/* kubernetes client */
	const char *kubeconfig; /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
	const char *context;
	const char *master;
	double kube_api_qps;
	unsigned kube_api_burst;
	int kube_api_protobuf; /* --kube-api-content-type: 1 protobuf (default), 0 JSON */
	/* generic */
	const char *config;
	const char *controllers;
	int dry_run;
	/* serving */
	const char *bind_address;
	const char *chatops_bind_address; /* NULL: off */
	const char *chatops_advertise_address; /* NULL: from the bind address or $POD_IP */
	/* leader election */
	int leader_elect;
	uint64_t lease_duration_ms;
	uint64_t renew_deadline_ms;
	uint64_t retry_period_ms;
	const char *leader_elect_namespace; /* NULL: docs/configuration.md */
	const char *leader_elect_name;
	/* logging */
	enum kl_log_format log_format;
	int verbosity;
	/* actions */
	int help;
	int version;
};

/* Defaults from the contract. */
void kl_flags_init(struct kl_flags *f);
/*
 * Parses argv[1..] into f (after kl_flags_init). Returns 0 or -EINVAL with err
 * naming the flag: "--leader-elect-lease-duration: bad duration "15"".
 * Stops early (returning 0) once --help or --version is seen.
 */
int kl_flags_parse(struct kl_flags *f, int argc, char **argv, struct kl_error *err);
/* Checks "HOST:PORT" / "[V6]:PORT" syntax; 0 or -EINVAL. */
int kl_hostport_check(const char *s);
/*
 * Prints --help, grouped, with defaults. controllers_help is appended to the
 * --controllers entry (the controller table's names), may be NULL.
 */
void kl_flags_usage(FILE *out, const char *prog, const char *controllers_help);

#endif
