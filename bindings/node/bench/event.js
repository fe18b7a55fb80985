// The event every benchmark logs: a message and five fields.
'use strict';
const MESSAGE = 'order placed';
function fields(i) {
  return { orderId: i, amount: 9.99, currency: 'EUR', customer: 'c-42', paid: true };
}
module.exports = { MESSAGE, fields };
