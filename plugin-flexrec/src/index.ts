/* The bundle's entry, as Twilio's plugin builder generates it: hand the plugin to Flex. */
import { loadPlugin } from '@twilio/flex-plugin';

import FlexrecPlugin from './FlexrecPlugin';

loadPlugin(FlexrecPlugin);
