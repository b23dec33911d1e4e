import { runService } from '@metering/service-kit';
import { aggregationService } from './service';

void runService(aggregationService);
