/* Values the build defines, as Twilio's plugin build does (see scripts/build.mjs). */
declare const __FPB_PLUGIN_UNIQUE_NAME: string;
declare const __FPB_PLUGIN_VERSION: string;
