"""Presets for shop-platform exports: Shopify (orders, customers), WooCommerce, Magento and BigCommerce (orders).

Shopify and WooCommerce export one row per line item; the order's own fields
(status, totals, e-mail) sit on the order's first row, or on every row.  The
presets read the order-level fields once per order (a window over the order
number in the plan's ``enrich`` step), so rows of one order always agree.
Magento's orders grid and BigCommerce's export have one row per order: Magento
gives no line items (one ``(order subtotal)`` line per order), BigCommerce packs
them into ``Product Details``, unpacked into lines in the plan's ``after`` step.

Conventions (``docs/presets.md`` documents them and cites the column lists):

- **Who is the customer**: the normalised e-mail (trimmed, lower-case).  The
  Shopify orders export has no customer id; WooCommerce's ``customer_id`` is 0
  for guests, and a guest checkout and an account with the same e-mail are one
  person.  An order without an e-mail is a guest order (NULL customer).
- **Kinds**: voided, cancelled, failed and unpaid-and-abandoned orders never
  became a sale: ``kind = 'adjustment'`` (as Olist's canceled orders).  Every
  other order is a ``sale``, refunded ones included: the sale happened.
- **Refunds** become a ``return`` order ``<order>/refund`` (on the cancellation
  date when there is one, else the order date) with one line of the product
  ``(refund)`` (``is_merchandise = false``) whose value is the goods' share of
  the refunded amount: ``refunded x goods / total`` (tax and shipping refunded
  in proportion are left out, as they are out of the sale's value).  A full
  refund thus returns exactly the sale's value.
- **Totals reconcile**: sale value (lines - discounts) + shipping + taxes =
  the file's order total; the summary counts the orders that do.
"""

from __future__ import annotations

from ._bigcommerce import BIGCOMMERCE_ORDERS_SIGNATURE, _bigcommerce_orders, _bigcommerce_orders_summary
from ._magento import MAGENTO_ORDERS_SIGNATURE, _magento_orders, _magento_orders_summary
from ._platform_common import PLATFORM_DATE_FORMATS, _has_all, apply_key_privacy
from ._preset_base import Preset
from ._shopify import (SHOPIFY_CUSTOMERS_SIGNATURE, SHOPIFY_ORDERS_SIGNATURE, _shopify_customers, _shopify_orders,
                       _shopify_orders_summary)
from ._woocommerce import WOOCOMMERCE_ORDERS_SIGNATURE, _woocommerce_orders, _woocommerce_orders_summary

__all__ = ["PLATFORM_DATE_FORMATS", "PLATFORM_PRESETS", "apply_key_privacy"]


PLATFORM_PRESETS = (
    Preset(
        "shopify-orders",
        "Shopify orders export (Admin > Orders > Export, CSV): one row per line item, grouped into orders by "
        "Name; customers by normalised e-mail; voided orders are kind 'adjustment'; refunds (Refunded Amount) "
        "become return orders '<Name>/refund'; shipping and discounts on the order.",
        _shopify_orders, None, _shopify_orders_summary, recognise=_has_all(SHOPIFY_ORDERS_SIGNATURE),
    ),
    Preset(
        "shopify-customers",
        "Shopify customers export (Admin > Customers > Export, CSV): customer_id is the normalised e-mail, the "
        "key the shopify-orders preset uses; name, phone, default address.",
        _shopify_customers, None, None, recognise=_has_all(SHOPIFY_CUSTOMERS_SIGNATURE),
    ),
    Preset(
        "woocommerce-orders",
        "WooCommerce order export, one row per line item (order_id, order_date, status, order_total, item_*): "
        "customers by normalised billing e-mail; cancelled, failed and pending orders are kind 'adjustment'; "
        "refunds (refunded_total, status refunded) become return orders '<order_number>/refund'.",
        _woocommerce_orders, None, _woocommerce_orders_summary, recognise=_has_all(WOOCOMMERCE_ORDERS_SIGNATURE),
    ),
    Preset(
        "magento-orders",
        "Magento / Adobe Commerce orders grid (Sales > Orders > Export, CSV) with the Customer Email column: one "
        "row per order, no line items, so each order gets one line '(order subtotal)' of its Subtotal; canceled, "
        "pending payment and suspected fraud are kind 'adjustment'; Total Refunded and Closed orders become "
        "return orders '<ID>/refund'.",
        _magento_orders, None, _magento_orders_summary, recognise=_has_all(MAGENTO_ORDERS_SIGNATURE),
    ),
    Preset(
        "bigcommerce-orders",
        "BigCommerce orders export (Orders > Export, default template): one row per order, its products in "
        "Product Details (entries split on |) become the lines; customers by normalised Customer Email; "
        "cancelled, declined, incomplete, pending and awaiting payment are kind 'adjustment'; Refund Amount and "
        "Refunded orders become return orders '<Order ID>/refund'.",
        _bigcommerce_orders, None, _bigcommerce_orders_summary, recognise=_has_all(BIGCOMMERCE_ORDERS_SIGNATURE),
    ),
)
