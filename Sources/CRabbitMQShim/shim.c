#include "CRabbitMQShim.h"

#include <sys/eventfd.h>

_Static_assert(sizeof(amqp_bytes_t) == 2 * sizeof(void *), "amqp_bytes_t layout changed");

amqp_rpc_reply_t cloudbus_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                           int channel_max, int frame_max, int heartbeat,
                                           const char *user, const char *password,
                                           const char *connection_name) {
    // rabbitmq-c announces only authentication_failure_close and exchange_exchange_bindings; the broker sends
    // connection.blocked/unblocked and basic.cancel only to clients that announce them. rabbitmq-c merges these
    // capabilities with its own.
    amqp_table_entry_t capabilities[2];
    capabilities[0].key = amqp_cstring_bytes("connection.blocked");
    capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[0].value.value.boolean = 1;
    capabilities[1].key = amqp_cstring_bytes("consumer_cancel_notify");
    capabilities[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[1].value.value.boolean = 1;
    amqp_table_entry_t entries[2];
    entries[0].key = amqp_cstring_bytes("capabilities");
    entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
    entries[0].value.value.table.num_entries = 2;
    entries[0].value.value.table.entries = capabilities;
    entries[1].key = amqp_cstring_bytes("connection_name");
    entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[1].value.value.bytes = amqp_cstring_bytes(connection_name);
    amqp_table_t properties = {.num_entries = 2, .entries = entries};
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

amqp_rpc_reply_t cloudbus_amqp_login_external(amqp_connection_state_t state, const char *vhost,
                                              int channel_max, int frame_max, int heartbeat,
                                              const char *identity) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat,
                      AMQP_SASL_METHOD_EXTERNAL, identity);
}

const amqp_flags_t cloudbus_flag_content_type = AMQP_BASIC_CONTENT_TYPE_FLAG;
const amqp_flags_t cloudbus_flag_content_encoding = AMQP_BASIC_CONTENT_ENCODING_FLAG;
const amqp_flags_t cloudbus_flag_headers = AMQP_BASIC_HEADERS_FLAG;
const amqp_flags_t cloudbus_flag_delivery_mode = AMQP_BASIC_DELIVERY_MODE_FLAG;
const amqp_flags_t cloudbus_flag_priority = AMQP_BASIC_PRIORITY_FLAG;
const amqp_flags_t cloudbus_flag_correlation_id = AMQP_BASIC_CORRELATION_ID_FLAG;
const amqp_flags_t cloudbus_flag_reply_to = AMQP_BASIC_REPLY_TO_FLAG;
const amqp_flags_t cloudbus_flag_expiration = AMQP_BASIC_EXPIRATION_FLAG;
const amqp_flags_t cloudbus_flag_message_id = AMQP_BASIC_MESSAGE_ID_FLAG;
const amqp_flags_t cloudbus_flag_timestamp = AMQP_BASIC_TIMESTAMP_FLAG;
const amqp_flags_t cloudbus_flag_type = AMQP_BASIC_TYPE_FLAG;

int cloudbus_wake_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/* The connection owner serving on this thread, if any (see ConnectionOwner.servingOnThisThread). */
static _Thread_local void *cloudbus_serving_owner;
void cloudbus_set_serving_owner(void *owner) { cloudbus_serving_owner = owner; }
void *cloudbus_serving_owner_here(void) { return cloudbus_serving_owner; }
