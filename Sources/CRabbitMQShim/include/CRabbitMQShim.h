#ifndef CLOUDBUS_CRABBITMQ_SHIM_H
#define CLOUDBUS_CRABBITMQ_SHIM_H

// Only what Swift cannot import from rabbitmq-c, plus the one Linux call Glibc does not export:
// - amqp_login, which is variadic;
// - the AMQP_BASIC_*_FLAG property bits, which are macros built from bit shifts;
// - eventfd(2), how other threads wake a connection's owner thread.
// Every symbol is prefixed cloudbus_. Linux only (eventfd); Package.swift refuses other platforms.

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#endif

/// amqp_login with SASL PLAIN (amqp_login is variadic and unavailable to Swift), announcing the connection name and
/// the capabilities connection.blocked and consumer_cancel_notify.
amqp_rpc_reply_t cloudbus_amqp_login_plain(amqp_connection_state_t state,
                                           const char *vhost,
                                           int channel_max,
                                           int frame_max,
                                           int heartbeat,
                                           const char *user,
                                           const char *password,
                                           const char *connection_name);

/// amqp_login with SASL EXTERNAL (client certificate identity over TLS).
amqp_rpc_reply_t cloudbus_amqp_login_external(amqp_connection_state_t state,
                                              const char *vhost,
                                              int channel_max,
                                              int frame_max,
                                              int heartbeat,
                                              const char *identity);

/// A non-blocking, close-on-exec eventfd: how other threads wake a connection's owner thread
/// (sys/eventfd.h is not part of Swift's Glibc module).
int cloudbus_wake_eventfd(void);

// A thread-local slot for the connection owner serving on the calling thread (Swift has no thread-locals of its own).
void cloudbus_set_serving_owner(void *owner);
void *cloudbus_serving_owner_here(void);

// AMQP_BASIC_*_FLAG are macros built from bit shifts; re-exported as constants.
extern const amqp_flags_t cloudbus_flag_content_type;
extern const amqp_flags_t cloudbus_flag_content_encoding;
extern const amqp_flags_t cloudbus_flag_headers;
extern const amqp_flags_t cloudbus_flag_delivery_mode;
extern const amqp_flags_t cloudbus_flag_priority;
extern const amqp_flags_t cloudbus_flag_correlation_id;
extern const amqp_flags_t cloudbus_flag_reply_to;
extern const amqp_flags_t cloudbus_flag_expiration;
extern const amqp_flags_t cloudbus_flag_message_id;
extern const amqp_flags_t cloudbus_flag_timestamp;
extern const amqp_flags_t cloudbus_flag_type;

#endif
