import { runService } from '@metering/service-kit';
import { webhooksService } from './service';

void runService(webhooksService);
