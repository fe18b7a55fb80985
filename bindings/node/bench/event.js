// The event every benchmark logs: a message and five fields.
'use strict';
const MESSAGE = 'order placed';
function fields(i) {
  return { orderId: i, amount: 9.99, currency: 'EUR', customer: 'c-42', paid: true };
}
/** The redaction benchmark's event: the five fields, a secret, and a nested one. */
function secretFields(i) {
  return { orderId: i, amount: 9.99, currency: 'EUR', customer: 'c-42', paid: true, password: 'hunter2', user: { id: 7, token: 't0k3n' } };
}
const REDACT_PATHS = ['password', 'user.token'];
module.exports = { MESSAGE, fields, secretFields, REDACT_PATHS };
