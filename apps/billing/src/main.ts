import { runService } from '@metering/service-kit';
import { billingService } from './service';

void runService(billingService);
