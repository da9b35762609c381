/*
 * `@twilio/flex-ui` inside the bundle: the Flex instance the host page provides, exactly as
 * Twilio's plugin builder resolves it (@twilio/flex-plugin-scripts/dev_assets/flex-shim.js,
 * MIT): window.Twilio.Flex, or the per-plugin proxy Flex hands to a plugin when it has one.
 */
let flexInstance = window.Twilio.Flex;
if (window.Twilio && window.Twilio.FlexProxy && window.Twilio.FlexProxy[__FPB_PLUGIN_UNIQUE_NAME]) {
  flexInstance = window.Twilio.FlexProxy[__FPB_PLUGIN_UNIQUE_NAME];
}
module.exports = flexInstance;
